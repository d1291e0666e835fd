"""Expansion opportunities: create, change and list them; the weighted pipeline; suggestions.

Stage rules and weights are the pure ``app.scoring.expansion``; this module reads and writes.

Idempotency (as for interactions): an opportunity's ``external_id`` (the caller's id, or the
request's ``Idempotency-Key``) names it; the same key with the same request returns the stored
opportunity, with a different request it is a 409. A concurrent double submit is settled by the
unique constraint on ``external_id``.

Concurrency: every change increments ``version``; the API's ETag is made from it and a change
must name the version it read (412 with the current resource when it is stale).

Suggestions: accounts with an expansion signal (seats nearly full, usage growth; detected here
from usage rollups, set-based) and no open opportunity, each with the signal's facts and the
suggested amount; creating from one records the signal and its facts as the source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from app.accounts.industries import industry_tiers
from app.accounts.service import get_account
from app.auth.users import get_user_by_email, require_user_by_email
from app.db import table_of
from app.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    contention_is_busy,
)
from app.expansion.schemas import OpportunityCreate
from app.models import (
    OPPORTUNITY_STAGES,
    SEGMENTS,
    Account,
    Opportunity,
    UsageAccountDay,
    UsagePresence,
    User,
)
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor
from app.scoring import expansion as pure
from app.usage import presence

OPPORTUNITY = table_of(Opportunity)
ACCOUNT = table_of(Account)
ACCOUNT_DAY = table_of(UsageAccountDay)
PRESENCE = table_of(UsagePresence)
_SORT = "-id"
_ETAG = re.compile(r'^(?:W/)?"opportunity-(\d+)-v(\d+)"$')
_ATTEMPTS = 3
#: Users are counted over the last 30 days (today included).
USERS_WINDOW_DAYS = 30
TIERS = ("1", "2", "3", "4", "none")


# -- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpportunityView:
    """An opportunity with its account, owner and the account's industry tier."""

    opportunity: Opportunity
    account: Account
    owner: User | None
    tier: int | None
    created: bool = True

    @property
    def probability(self) -> float:
        return pure.PipelineRules().probability(self.opportunity.stage)

    @property
    def weighted(self) -> Decimal:
        return pure.weighted(self.opportunity.amount, self.opportunity.stage)

    @property
    def is_open(self) -> bool:
        return self.opportunity.stage in pure.OPEN_STAGES


def public(view: OpportunityView) -> dict[str, Any]:
    """The opportunity as the API shows it (``OpportunityPublic``'s fields)."""
    o, a = view.opportunity, view.account
    return {
        "id": o.id,
        "account_id": a.external_id,
        "account_name": a.name,
        "segment": a.segment,
        "industry": a.industry,
        "tier": view.tier,
        "title": o.title,
        "kind": o.kind,
        "stage": o.stage,
        "amount": o.amount,
        "currency": o.currency,
        "probability": view.probability,
        "weighted_amount": view.weighted,
        "expected_close_on": o.expected_close_on,
        "closed_on": o.closed_on,
        "lost_reason": o.lost_reason,
        "source": o.source,
        "source_data": o.source_data,
        "owner": view.owner.email if view.owner else None,
        "notes": o.notes,
        "external_id": o.external_id,
        "created_by": o.created_by,
        "updated_by": o.updated_by,
        "version": o.version,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    }


def etag(row: Opportunity) -> str:
    """The opportunity's ETag: ``"opportunity-<id>-v<version>"``."""
    return f'"opportunity-{row.id}-v{row.version}"'


def expected_version(if_match: str | None, *, id: int) -> int | None:
    """The version an ``If-Match`` header names for this opportunity; None without a header, 0
    (never current) when it names another resource or is not one of our ETags."""
    if if_match is None or not if_match.strip():
        return None
    for candidate in if_match.split(","):
        m = _ETAG.match(candidate.strip())
        if m and int(m.group(1)) == id:
            return int(m.group(2))
    return 0


def tiers_by_industry(session: Session, *, today: dt.date) -> dict[str, int | None]:
    """Each known industry's tier as of the day (None: not enough data for a tier)."""
    return {name: t.tier for name, t in industry_tiers(session, as_of=today).items()}


def _views(
    session: Session, rows: Sequence[tuple[Opportunity, Account]], tiers: dict[str, int | None]
) -> list[OpportunityView]:
    owner_ids = {o.owner_id for o, _ in rows if o.owner_id is not None}
    owners = (
        {u.id: u for u in session.execute(select(User).where(col(User.id).in_(owner_ids))).scalars()}
        if owner_ids
        else {}
    )
    return [
        OpportunityView(
            o,
            a,
            owners.get(o.owner_id) if o.owner_id else None,
            tiers.get(a.industry) if a.industry else None,
        )
        for o, a in rows
    ]


def view_of(session: Session, row: Opportunity, *, today: dt.date, created: bool = True) -> OpportunityView:
    """The opportunity with its account, owner and the account's tier as of today."""
    account = session.get(Account, row.account_id)
    assert account is not None
    tiers = tiers_by_industry(session, today=today)
    view = _views(session, [(row, account)], tiers)[0]
    return OpportunityView(view.opportunity, view.account, view.owner, view.tier, created)


# -- filters and lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which opportunities: stages (empty: all), owner (a user id, or 0 for "no owner"), segment,
    industry tier ("1"–"4" or "none"), one account."""

    stages: tuple[str, ...] = ()
    owner_id: int | None = None
    segment: str | None = None
    tier: str | None = None
    account_id: int | None = None


def parse_filters(
    session: Session,
    *,
    stage: Sequence[str] | str | None = None,
    owner: str | None = None,
    segment: str | None = None,
    tier: str | None = None,
    location: str = "query",
) -> Filters:
    """Filters from request values; 422 naming each bad one. ``stage`` takes stage names, comma
    lists, or ``open`` / ``closed``; ``owner`` an email or ``none``."""
    errors: list[FieldError] = []
    raw = [stage] if isinstance(stage, str) else list(stage or [])
    stages: list[str] = []
    for part in (p.strip() for item in raw for p in item.split(",")):
        if not part:
            continue
        if part == "open":
            stages.extend(pure.OPEN_STAGES)
        elif part == "closed":
            stages.extend(pure.CLOSED_STAGES)
        elif part in OPPORTUNITY_STAGES:
            stages.append(part)
        else:
            errors.append(
                FieldError(
                    "stage", f"must be one of {', '.join(OPPORTUNITY_STAGES)}, open or closed", location
                )
            )
    owner_id: int | None = None
    owner = (owner or "").strip()
    if owner.lower() == "none":
        owner_id = 0
    elif owner:
        user = get_user_by_email(session, owner)
        if user is None:
            errors.append(FieldError("owner", f"no user with email {owner.lower()}", location))
        else:
            owner_id = user.id
    segment = (segment or "").strip() or None
    if segment is not None and segment not in SEGMENTS:
        errors.append(FieldError("segment", f"must be one of {', '.join(SEGMENTS)}", location))
    tier = (tier or "").strip() or None
    if tier is not None and tier not in TIERS:
        errors.append(FieldError("tier", "must be 1, 2, 3, 4 or none", location))
    if errors:
        raise InvalidInput(errors)
    return Filters(tuple(dict.fromkeys(stages)), owner_id, segment, tier)


def _account_scope(query: Any, filters: Filters, tiers: dict[str, int | None]) -> Any:
    """The account-side filters (owner, segment, tier) on a query joined to ``account``."""
    query = query.where(ACCOUNT.c.status != "deleted")
    if filters.segment is not None:
        query = query.where(ACCOUNT.c.segment == filters.segment)
    if filters.tier is not None:
        tiered = sorted(name for name, t in tiers.items() if t is not None)
        if filters.tier == "none":
            query = query.where(or_(ACCOUNT.c.industry.is_(None), ACCOUNT.c.industry.not_in(tiered)))
        else:
            wanted = sorted(name for name, t in tiers.items() if t == int(filters.tier))
            query = query.where(ACCOUNT.c.industry.in_(wanted))
    if filters.account_id is not None:
        query = query.where(ACCOUNT.c.id == filters.account_id)
    return query


def _owner_scope(query: Any, filters: Filters, column: Any) -> Any:
    if filters.owner_id == 0:
        return query.where(column.is_(None))
    if filters.owner_id is not None:
        return query.where(column == filters.owner_id)
    return query


@dataclass(frozen=True)
class OpportunityPage:
    items: list[OpportunityView]
    next_cursor: str | None


def list_opportunities(
    session: Session, *, filters: Filters, page: PageParams | None, today: dt.date
) -> OpportunityPage:
    """Opportunities matching the filters, newest first (keyset pages; all of them without
    ``page``)."""
    tiers = tiers_by_industry(session, today=today)
    query = select(Opportunity, Account).join(Account, col(Account.id) == col(Opportunity.account_id))
    query = _owner_scope(_account_scope(query, filters, tiers), filters, col(Opportunity.owner_id))
    if filters.stages:
        query = query.where(col(Opportunity.stage).in_(filters.stages))
    query = query.order_by(col(Opportunity.id).desc())
    if page is not None:
        if page.cursor:
            cursor = decode_cursor(page.cursor, sort=_SORT)
            query = query.where(col(Opportunity.id) < cursor.last_id)
        query = query.limit(page.limit + 1)
    rows = [(o, a) for o, a in session.execute(query).all()]
    next_cursor = None
    if page is not None and len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1][0]
        assert last.id is not None
        next_cursor = encode_cursor(Cursor(_SORT, None, last.id))
    return OpportunityPage(_views(session, rows, tiers), next_cursor)


def account_opportunities(
    session: Session, *, account_id: str, today: dt.date
) -> tuple[Account, list[OpportunityView]]:
    """The account's opportunities: open ones first, then newest first."""
    account = get_account(session, account_id)
    result = list_opportunities(session, filters=Filters(account_id=account.id), page=None, today=today)
    items = sorted(result.items, key=lambda v: (not v.is_open, -(v.opportunity.id or 0)))
    return account, items


def get_opportunity(session: Session, opportunity_id: int) -> Opportunity:
    """One opportunity; 404 if unknown or its account is deleted (or the id is out of a
    database integer's range, which no row can have)."""
    if not 0 < opportunity_id < 2**63:
        raise NotFound(f"no opportunity {opportunity_id}")
    row = session.get(Opportunity, opportunity_id)
    account = session.get(Account, row.account_id) if row is not None else None
    if row is None or account is None or account.status == "deleted":
        raise NotFound(f"no opportunity {opportunity_id}")
    return row


# -- the pipeline --------------------------------------------------------------------------------


def pipeline(session: Session, *, filters: Filters, today: dt.date) -> pure.Pipeline:
    """Totals and weighted amounts by stage and by tier (the filters' owner, segment, tier)."""
    tiers = tiers_by_industry(session, today=today)
    query = (
        select(
            OPPORTUNITY.c.stage,
            OPPORTUNITY.c.currency,
            ACCOUNT.c.industry,
            func.count(),
            func.sum(OPPORTUNITY.c.amount),
        )
        .join(ACCOUNT, ACCOUNT.c.id == OPPORTUNITY.c.account_id)
        .group_by(OPPORTUNITY.c.stage, OPPORTUNITY.c.currency, ACCOUNT.c.industry)
    )
    query = _owner_scope(_account_scope(query, filters, tiers), filters, OPPORTUNITY.c.owner_id)
    items = [
        pure.PipelineItem(
            stage=stage,
            amount=Decimal(str(amount or 0)),
            currency=currency,
            tier=tiers.get(industry) if industry else None,
            count=int(count),
        )
        for stage, currency, industry, count, amount in session.execute(query).all()
    ]
    return pure.pipeline(items)


# -- suggestions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """An account with an expansion signal and no open opportunity: what to propose."""

    account: Account
    owner: User | None
    tier: int | None
    signal: pure.ExpansionSignal


def expansion_inputs(
    session: Session,
    *,
    today: dt.date,
    account_ids: Sequence[int] | None = None,
    rules: pure.SignalRules = pure.SignalRules(),
) -> dict[int, pure.ExpansionInputs]:
    """Seats, active users and event counts of every active account (or the given ones)."""
    scope = ACCOUNT.c.id.in_(list(account_ids)) if account_ids is not None else ACCOUNT.c.id.is_not(None)
    accounts = session.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.licensed_seats, ACCOUNT.c.arr).where(
            ACCOUNT.c.status == "active", scope
        )
    ).all()
    ids = [a for a, _, _ in accounts]
    if not ids:
        return {}
    start = today - dt.timedelta(days=USERS_WINDOW_DAYS - 1)
    window = presence.window(start, today)
    users = func.count() if window.single else func.count(distinct(PRESENCE.c.item))
    seen = dict(
        session.execute(
            select(PRESENCE.c.account_id, users)
            .where(PRESENCE.c.kind == "u", window.clause(PRESENCE), PRESENCE.c.account_id.in_(ids))
            .group_by(PRESENCE.c.account_id)
        ).all()
    )
    # Pushed daily aggregates carry user counts without the users: the busiest day is a floor.
    busiest = dict(
        session.execute(
            select(ACCOUNT_DAY.c.account_id, func.max(ACCOUNT_DAY.c.active_users))
            .where(ACCOUNT_DAY.c.day.between(start, today), ACCOUNT_DAY.c.account_id.in_(ids))
            .group_by(ACCOUNT_DAY.c.account_id)
        ).all()
    )
    span = rules.growth_window_days
    recent_start = today - dt.timedelta(days=span - 1)
    prior_start = recent_start - dt.timedelta(days=span)
    is_recent = ACCOUNT_DAY.c.day >= recent_start
    events: dict[int, tuple[int, int]] = {
        a: (int(r or 0), int(p or 0))
        for a, r, p in session.execute(
            select(
                ACCOUNT_DAY.c.account_id,
                func.sum(ACCOUNT_DAY.c.event_count).filter(is_recent),
                func.sum(ACCOUNT_DAY.c.event_count).filter(~is_recent),
            )
            .where(ACCOUNT_DAY.c.day.between(prior_start, today), ACCOUNT_DAY.c.account_id.in_(ids))
            .group_by(ACCOUNT_DAY.c.account_id)
        ).all()
    }
    return {
        a: pure.ExpansionInputs(
            licensed_seats=seats,
            users_30d=max(int(seen.get(a, 0)), int(busiest.get(a) or 0)),
            events_recent=events.get(a, (0, 0))[0],
            events_prior=events.get(a, (0, 0))[1],
            arr=Decimal(str(arr or 0)),
        )
        for a, seats, arr in accounts
    }


def suggestions(session: Session, *, filters: Filters, today: dt.date) -> list[Suggestion]:
    """Accounts with an expansion signal and no open opportunity (the filters' owner, segment and
    tier), largest suggested amount first; one entry per signal."""
    tiers = tiers_by_industry(session, today=today)
    has_open = (
        select(OPPORTUNITY.c.id)
        .where(OPPORTUNITY.c.account_id == ACCOUNT.c.id, OPPORTUNITY.c.stage.in_(pure.OPEN_STAGES))
        .exists()
    )
    query = select(ACCOUNT.c.id).where(ACCOUNT.c.status == "active", ~has_open)
    query = _owner_scope(_account_scope(query, filters, tiers), filters, ACCOUNT.c.owner_id)
    candidates = list(session.execute(query).scalars())
    inputs = expansion_inputs(session, today=today, account_ids=candidates)
    fired = {a: pure.detect(i) for a, i in inputs.items()}
    fired = {a: s for a, s in fired.items() if s}
    if not fired:
        return []
    accounts = {
        a.id: a for a in session.execute(select(Account).where(col(Account.id).in_(list(fired)))).scalars()
    }
    owner_ids = {a.owner_id for a in accounts.values() if a.owner_id}
    owners = (
        {u.id: u for u in session.execute(select(User).where(col(User.id).in_(owner_ids))).scalars()}
        if owner_ids
        else {}
    )
    out = [
        Suggestion(
            accounts[a],
            owners.get(accounts[a].owner_id) if accounts[a].owner_id else None,
            tiers.get(accounts[a].industry) if accounts[a].industry else None,
            signal,
        )
        for a, signals in fired.items()
        for signal in signals
    ]
    out.sort(key=lambda s: (-s.signal.amount, s.account.name, s.signal.kind))
    return out


def active_signal(session: Session, *, account: Account, kind: str, today: dt.date) -> pure.ExpansionSignal:
    """The account's expansion signal of this kind as of today; 422 naming ``source`` if it is
    not active."""
    assert account.id is not None
    inputs = expansion_inputs(session, today=today, account_ids=[account.id]).get(account.id)
    for signal in pure.detect(inputs) if inputs is not None else []:
        if signal.kind == kind:
            return signal
    raise InvalidInput.field("source", f"the {kind} signal is not active on account {account.external_id!r}")


# -- writes --------------------------------------------------------------------------------------


def _request_hash(opportunity_in: OpportunityCreate) -> str:
    body = opportunity_in.model_dump(mode="json", exclude={"external_id"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _check(row: Opportunity) -> None:
    problems = pure.stage_problems(
        row.stage, amount=row.amount, expected_close_on=row.expected_close_on, lost_reason=row.lost_reason
    )
    if problems:
        raise InvalidInput([FieldError(f, m) for f, m in problems])


def _replay(session: Session, key: str, request_hash: str) -> Opportunity | None:
    row = session.execute(select(Opportunity).where(col(Opportunity.external_id) == key)).scalar_one_or_none()
    if row is not None and row.request_hash is not None and row.request_hash != request_hash:
        raise Conflict(
            f"external_id / Idempotency-Key {key!r} was already used for a different "
            f"opportunity (id {row.id})",
            opportunity_id=row.id,
        )
    return row


def create_opportunity(
    session: Session,
    *,
    opportunity_in: OpportunityCreate,
    idempotency_key: str | None = None,
    actor: str,
    now: dt.datetime,
    today: dt.date,
) -> OpportunityView:
    """Create an opportunity (from a signal when ``source`` names one), or return the stored one
    if this is a retry of it (``created`` False)."""
    key = opportunity_in.external_id
    if idempotency_key is not None and key is not None and idempotency_key != key:
        raise InvalidInput.field(
            "Idempotency-Key", "differs from the body's external_id; send one or the same", "header"
        )
    key = key or idempotency_key
    request_hash = _request_hash(opportunity_in)
    if key is not None:
        stored = _replay(session, key, request_hash)
        if stored is not None:
            return view_of(session, stored, today=today, created=False)
    try:
        account = get_account(session, opportunity_in.account_id)
    except NotFound:
        raise InvalidInput.field("account_id", f"no account with id {opportunity_in.account_id!r}") from None
    assert account.id is not None
    amount = opportunity_in.amount
    source_data: dict[str, Any] = {}
    if opportunity_in.source != "manual":
        signal = active_signal(session, account=account, kind=opportunity_in.source, today=today)
        source_data = {
            **signal.data,
            "suggested_amount": float(signal.amount),
            "detected_on": today.isoformat(),
        }
        if "amount" not in opportunity_in.model_fields_set:
            amount = signal.amount
    owner_id = account.owner_id
    if opportunity_in.owner is not None:
        owner_id = require_user_by_email(session, opportunity_in.owner).id
    row = Opportunity(
        account_id=account.id,
        title=opportunity_in.title,
        kind=opportunity_in.kind,
        stage=opportunity_in.stage,
        amount=amount,
        currency=opportunity_in.currency or account.currency,
        expected_close_on=opportunity_in.expected_close_on,
        closed_on=today if opportunity_in.stage in pure.CLOSED_STAGES else None,
        lost_reason=opportunity_in.lost_reason,
        source=opportunity_in.source,
        source_data=source_data,
        owner_id=owner_id,
        notes=(opportunity_in.notes or "").strip() or None,
        external_id=key,
        request_hash=request_hash if key is not None else None,
        created_by=actor[:320],
        updated_by=actor[:320],
        version=1,
        created_at=now,
        updated_at=now,
    )
    _check(row)
    for _ in range(_ATTEMPTS):
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            if key is None:
                raise
            # A concurrent request stored this key first: answer from its row.
            stored = _replay(session, key, request_hash)
            if stored is not None:
                return view_of(session, stored, today=today, created=False)
            continue
        return view_of(session, row, today=today)
    raise Conflict("the same idempotency key is being used concurrently; retry")


def create_from_suggestion(
    session: Session,
    *,
    account_id: str,
    signal: str,
    actor: str,
    now: dt.datetime,
    today: dt.date,
) -> OpportunityView:
    """Create the opportunity a suggestion proposes (its kind and amount, the signal recorded).
    Clicking twice on the same day creates one."""
    if signal not in pure.SIGNAL_KINDS:
        raise InvalidInput.field("signal", f"must be one of {', '.join(pure.SIGNAL_KINDS)}")
    account = get_account(session, account_id)
    kind = pure.SUGGESTED_KIND[signal]
    opportunity_in = OpportunityCreate(
        account_id=account.external_id,
        kind=kind,
        source=signal,
        external_id=f"suggestion:{account.id}:{signal}:{today.isoformat()}",
    )
    return create_opportunity(session, opportunity_in=opportunity_in, actor=actor, now=now, today=today)


def _stale(session: Session, row: Opportunity, today: dt.date) -> PreconditionFailed:
    tag = etag(row)
    current = public(view_of(session, row, today=today))
    exc = PreconditionFailed(
        f"opportunity {row.id} has changed since you read it (now version {row.version}, by "
        f"{row.updated_by}); re-read it, reapply your change and send its new ETag",
        current=json.loads(json.dumps(current, default=_json_default)),
        etag=tag,
    )
    exc.headers["ETag"] = tag
    return exc


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _claim(session: Session, row: Opportunity, expected: int | None, today: dt.date) -> None:
    """Take the row's next version if it is still at ``expected``; 428 without one, 412 with the
    current opportunity when another write got there first."""
    if expected is None:
        raise PreconditionRequired(
            "send the opportunity's ETag in If-Match; GET it first if you do not have it",
            errors=[FieldError("If-Match", "required for this change", "header").as_dict()],
        )
    if expected != row.version:
        raise _stale(session, row, today)
    with contention_is_busy():
        result = session.execute(
            update(OPPORTUNITY)
            .where(OPPORTUNITY.c.id == row.id, OPPORTUNITY.c.version == expected)
            .values(version=expected + 1)
        )
    if getattr(result, "rowcount", 1) != 1:
        session.refresh(row)
        raise _stale(session, row, today)
    set_committed_value(row, "version", expected + 1)


_NOT_NULL = ("kind", "stage", "amount", "currency")
_FIELDS = ("title", "kind", "stage", "amount", "currency", "expected_close_on", "lost_reason", "notes")


def update_opportunity(
    session: Session,
    *,
    opportunity_id: int,
    changes: dict[str, Any],
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
    today: dt.date,
) -> OpportunityView:
    """Apply the given fields if the opportunity is still at ``expected_version`` (else 412).

    Moving to won or lost records today as the close day; moving back to an open stage clears it
    and, unless one is given, the lost reason. Nothing is changed unless all of it is valid."""
    row = get_opportunity(session, opportunity_id)
    for name in _NOT_NULL:
        if name in changes and changes[name] is None:
            raise InvalidInput.field(name, "must not be null")
    unknown = set(changes) - set(_FIELDS) - {"owner"}
    if unknown:
        raise InvalidInput([FieldError(name, "cannot be changed") for name in sorted(unknown)])
    after = {name: changes.get(name, getattr(row, name)) for name in _FIELDS}
    after["notes"] = (after["notes"] or "").strip() or None
    after["closed_on"] = row.closed_on
    if after["stage"] != row.stage:
        after["closed_on"] = today if after["stage"] in pure.CLOSED_STAGES else None
        if row.stage == "lost" and "lost_reason" not in changes:
            after["lost_reason"] = None
    problems = pure.stage_problems(
        after["stage"],
        amount=after["amount"],
        expected_close_on=after["expected_close_on"],
        lost_reason=after["lost_reason"],
    )
    if problems:
        raise InvalidInput([FieldError(f, m) for f, m in problems])
    owner_id = row.owner_id
    if "owner" in changes:
        owner_id = require_user_by_email(session, changes["owner"]).id if changes["owner"] else None
    _claim(session, row, expected_version, today)
    for name, value in after.items():
        setattr(row, name, value)
    row.owner_id = owner_id
    row.updated_by = actor[:320]
    row.updated_at = now
    session.add(row)
    session.flush()
    return view_of(session, row, today=today)


def delete_opportunity(
    session: Session, *, opportunity_id: int, expected_version: int | None, today: dt.date
) -> None:
    """Delete the opportunity if it is still at ``expected_version`` (else 412)."""
    row = get_opportunity(session, opportunity_id)
    _claim(session, row, expected_version, today)
    session.delete(row)
    session.flush()
