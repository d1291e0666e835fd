"""Interactions: meetings, emails, tickets, NPS answers, attendance... recorded once, listed newest first.

Idempotency: an interaction's ``external_id`` (the caller's id, or the request's
``Idempotency-Key``) names it. Sending the same key again with the same request returns the
stored interaction and creates nothing; the same key with a different request is a 409. The
request is compared by ``request_hash``, a SHA-256 of its canonical JSON. A concurrent double
submit is settled by the unique constraint on ``external_id``: the loser's insert fails inside a
savepoint and it answers from the winner's row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth.users import normalise_email
from app.errors import Conflict, FieldError, InvalidInput, NotFound, contention_is_busy
from app.health import score_queue
from app.interactions.schemas import AnyInteractionIn, ContactRef
from app.models import INTERACTION_TYPES, Account, Contact, Interaction, InteractionContact, User
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor

#: ``occurred_at`` may be at most this far ahead of the request's clock (clock skew, zones).
FUTURE_SLACK = dt.timedelta(days=1)
_SORT = "-occurred_at"
#: Insert attempts when concurrent requests race for the same keys (each loss re-reads them).
_ATTEMPTS = 3


@dataclass(frozen=True)
class InteractionView:
    """An interaction with what its public form needs; ``created`` is False for a replay."""

    interaction: Interaction
    account_external_id: str
    contacts: list[Contact]
    created: bool = False


@dataclass(frozen=True)
class InteractionFilters:
    types: tuple[str, ...] = ()
    start: dt.datetime | None = None  # inclusive
    end: dt.datetime | None = None
    end_inclusive: bool = False


@dataclass(frozen=True)
class InteractionPage:
    items: list[InteractionView]
    next_cursor: str | None


@dataclass
class _Plan:
    """One validated interaction, ready to insert (or to be answered from a stored one)."""

    item: AnyInteractionIn
    key: str | None
    request_hash: str
    account: Account
    author: str
    author_user_id: int | None
    contacts: list[Contact]
    view: InteractionView | None = None


@dataclass
class _Lookups:
    """Caches for one call, so a batch of 1,000 interactions costs a few queries per account."""

    session: Session
    accounts: dict[str, Account | None] = field(default_factory=dict)
    users: dict[str, User | None] = field(default_factory=dict)

    def account(self, external_id: str) -> Account | None:
        if external_id not in self.accounts:
            self.accounts[external_id] = self.session.exec(
                select(Account).where(Account.external_id == external_id)
            ).first()
        return self.accounts[external_id]

    def user(self, email: str) -> User | None:
        email = normalise_email(email)
        if email not in self.users:
            self.users[email] = self.session.exec(select(User).where(User.email == email)).first()
        return self.users[email]


def create_interaction(
    session: Session,
    *,
    interaction_in: AnyInteractionIn,
    idempotency_key: str | None = None,
    now: dt.datetime,
) -> InteractionView:
    """Record one interaction, or return the stored one if this is a retry of it."""
    key = interaction_in.external_id
    if idempotency_key is not None and key is not None and idempotency_key != key:
        raise InvalidInput.field(
            "Idempotency-Key", "differs from the body's external_id; send one or the same",
            "header",
        )
    with contention_is_busy():
        plan = _plan(_Lookups(session), interaction_in, key or idempotency_key, now)
        return _store(session, [plan], now)[0]


def create_interactions(
    session: Session,
    *,
    interactions_in: Sequence[AnyInteractionIn],
    idempotency_key: str | None = None,
    now: dt.datetime,
) -> list[InteractionView]:
    """Record a batch, all or nothing: a 422 names ``data[i].field`` for every bad item.

    Items without an ``external_id`` get ``{Idempotency-Key}:{i}`` as theirs when the request
    carries that header, so a retried batch is recognised item by item.
    """
    with contention_is_busy():
        lookups = _Lookups(session)
        plans: list[_Plan] = []
        errors: list[FieldError] = []
        for index, item in enumerate(interactions_in):
            key = item.external_id
            if key is None and idempotency_key is not None:
                key = f"{idempotency_key}:{index}"
            try:
                plans.append(_plan(lookups, item, key, now))
            except InvalidInput as exc:
                errors.extend(
                    FieldError(f"data[{index}].{e.field}", e.message, e.location)
                    for e in exc.errors
                )
        errors.extend(_duplicate_keys(plans))
        if errors:
            raise InvalidInput(errors)
        return _store(session, plans, now)


def _duplicate_keys(plans: list[_Plan]) -> list[FieldError]:
    first: dict[str, tuple[int, str]] = {}
    errors = []
    for index, plan in enumerate(plans):
        if plan.key is None:
            continue
        seen = first.setdefault(plan.key, (index, plan.request_hash))
        if seen[1] != plan.request_hash:
            errors.append(FieldError(
                f"data[{index}].external_id",
                f"same external_id as data[{seen[0]}] with different content",
            ))
    return errors


def _plan(
    lookups: _Lookups, item: AnyInteractionIn, key: str | None, now: dt.datetime
) -> _Plan:
    """Check the rules that need the database or the clock; 422 naming each bad field."""
    errors: list[FieldError] = []
    account = lookups.account(item.account_id)
    if account is None or account.status == "deleted":
        errors.append(FieldError("account_id", f"no account with id {item.account_id!r}"))
    if item.occurred_at > now + FUTURE_SLACK:
        errors.append(FieldError("occurred_at", "must not be more than a day in the future"))
    scheduled_for = getattr(item, "scheduled_for", None)
    if scheduled_for is not None and scheduled_for <= now:
        errors.append(FieldError("scheduled_for", "must be in the future"))
    contacts: list[Contact] = []
    if account is not None:
        contacts, contact_errors = _resolve_contacts(lookups.session, account, item.contact_refs())
        errors.extend(contact_errors)
    if errors:
        raise InvalidInput(errors)
    assert account is not None
    author, author_user_id = item.author, None
    if "@" in item.author:
        user = lookups.user(item.author)
        if user is not None:
            author, author_user_id = user.email, user.id
    return _Plan(
        item=item, key=key, request_hash=item.request_hash(), account=account, author=author,
        author_user_id=author_user_id, contacts=contacts,
    )


def _resolve_contacts(
    session: Session, account: Account, refs: list[tuple[str, int, ContactRef]]
) -> tuple[list[Contact], list[FieldError]]:
    if not refs:
        return [], []
    ids = [r for _, _, r in refs if isinstance(r, int)]
    texts = [r for _, _, r in refs if isinstance(r, str)]
    found = list(session.exec(
        select(Contact).where(
            Contact.account_id == account.id,
            or_(
                col(Contact.id).in_(ids),
                col(Contact.external_id).in_(texts),
                func.lower(col(Contact.email)).in_([t.lower() for t in texts]),
            ),
        ).order_by(col(Contact.id))
    ).all())
    by_id = {c.id: c for c in found}
    by_external = {c.external_id: c for c in found if c.external_id}
    by_email: dict[str, Contact] = {}
    for contact in found:
        if contact.email:
            by_email.setdefault(contact.email.lower(), contact)
    contacts: dict[int, Contact] = {}
    errors = []
    for source, index, ref in refs:
        match = (
            by_id.get(ref) if isinstance(ref, int)
            else by_external.get(ref) or by_email.get(ref.lower())
        )
        if match is None or match.id is None:
            errors.append(FieldError(
                f"{source}[{index}]", f"no contact {ref!r} on account {account.external_id!r}"
            ))
        else:
            contacts.setdefault(match.id, match)
    return list(contacts.values()), errors


def _store(session: Session, plans: list[_Plan], now: dt.datetime) -> list[InteractionView]:
    """Insert what is new, answer retries from the stored rows; safe against concurrent twins."""
    for _ in range(_ATTEMPTS):
        _match_stored(session, plans)
        fresh = _first_of_each_key([p for p in plans if p.view is None])
        try:
            with session.begin_nested():
                rows = [_row(p, now) for p in fresh]
                session.add_all(rows)
                session.flush()
                session.add_all(
                    InteractionContact(interaction_id=row.id, contact_id=c.id)  # type: ignore[arg-type]
                    for row, plan in zip(rows, fresh, strict=True) for c in plan.contacts
                )
                session.flush()
        except IntegrityError:
            continue  # a concurrent request stored one of these keys first: answer from it
        for row, plan in zip(rows, fresh, strict=True):
            plan.view = InteractionView(row, plan.account.external_id, plan.contacts, True)
        # Meetings, NPS answers and attendance feed the health scores: rescore these accounts.
        score_queue.mark_dirty(session, (row.account_id for row in rows), now)
        _match_stored(session, plans)  # in-batch twins of a new row are replays of it
        return [p.view for p in plans if p.view is not None]
    raise Conflict("the same idempotency keys are being used concurrently; retry")


def _first_of_each_key(plans: list[_Plan]) -> list[_Plan]:
    seen: set[str] = set()
    out = []
    for plan in plans:
        if plan.key is not None:
            if plan.key in seen:
                continue
            seen.add(plan.key)
        out.append(plan)
    return out


def _match_stored(session: Session, plans: list[_Plan]) -> None:
    """Answer each plan whose key is stored: a replay if the request matches, else 409."""
    keys = sorted({p.key for p in plans if p.key is not None and p.view is None})
    if not keys:
        return
    stored: dict[str, Interaction] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        rows = session.exec(select(Interaction).where(col(Interaction.external_id).in_(chunk)))
        stored.update({row.external_id: row for row in rows if row.external_id})
    replays: list[tuple[_Plan, Interaction]] = []
    for plan in plans:
        if plan.view is not None or plan.key not in stored:
            continue
        row = stored[plan.key]
        # Rows stored without a hash (by other paths) cannot be compared; the key still wins.
        if row.request_hash is not None and row.request_hash != plan.request_hash:
            raise Conflict(
                f"external_id / Idempotency-Key {plan.key!r} was already used for a different "
                f"interaction (id {row.id})",
                interaction_id=row.id,
            )
        replays.append((plan, row))
    contacts = _contacts_of(session, (row.id for _, row in replays if row.id is not None))
    for plan, row in replays:
        account = plan.account
        if row.account_id != account.id:  # only possible for a row stored without a hash
            account = session.get(Account, row.account_id) or account
        plan.view = InteractionView(row, account.external_id, contacts.get(row.id or 0, []))


def _row(plan: _Plan, now: dt.datetime) -> Interaction:
    item = plan.item
    assert plan.account.id is not None
    return Interaction(
        account_id=plan.account.id, type=item.type, occurred_at=item.occurred_at,
        external_id=plan.key, request_hash=plan.request_hash,
        author_user_id=plan.author_user_id, author=plan.author, title=item.title,
        body=item.text(), data=item.data(), created_at=now,
    )


def _contacts_of(session: Session, interaction_ids: Iterable[int]) -> dict[int, list[Contact]]:
    ids = list(interaction_ids)
    out: dict[int, list[Contact]] = defaultdict(list)
    if not ids:
        return out
    rows = session.exec(
        select(InteractionContact.interaction_id, Contact)
        .join(Contact, col(Contact.id) == col(InteractionContact.contact_id))
        .where(col(InteractionContact.interaction_id).in_(ids))
        .order_by(col(Contact.id))
    ).all()
    for interaction_id, contact in rows:
        out[interaction_id].append(contact)
    return out


def _view(
    session: Session, row: Interaction, account_external_id: str, *, created: bool
) -> InteractionView:
    assert row.id is not None
    return InteractionView(
        row, account_external_id, _contacts_of(session, [row.id]).get(row.id, []), created
    )


def get_interaction(session: Session, interaction_id: int) -> InteractionView:
    """One interaction; 404 if unknown or its account is deleted."""
    found = session.exec(
        select(Interaction, Account)
        .join(Account, col(Account.id) == col(Interaction.account_id))
        .where(Interaction.id == interaction_id, Account.status != "deleted")
    ).first()
    if found is None:
        raise NotFound(f"no interaction {interaction_id}")
    row, account = found
    return _view(session, row, account.external_id, created=False)


# -- listing ----------------------------------------------------------------------------------


def parse_types(values: Sequence[str] | None) -> tuple[str, ...]:
    """``?type=a&type=b,c`` → ``("a", "b", "c")``; 422 naming ``type`` for an unknown one."""
    types: list[str] = []
    for value in values or ():
        types.extend(t.strip() for t in value.split(",") if t.strip())
    unknown = [t for t in types if t not in INTERACTION_TYPES]
    if unknown:
        raise InvalidInput.field(
            "type", f"unknown type {unknown[0]!r}; one of {', '.join(INTERACTION_TYPES)}", "query"
        )
    return tuple(dict.fromkeys(types))


def parse_bound(value: str | None, *, field: str, tz: ZoneInfo, end: bool) -> dt.datetime | None:
    """A ``from``/``to`` bound: a date (a whole day in the team's time zone) or an aware time.

    A date as ``to`` includes that day: the bound returned is the start of the next day.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tz)
            return start.astimezone(dt.UTC)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise InvalidInput.field(field, "give a time zone offset (e.g. +09:00 or Z)", "query")
        return moment.astimezone(dt.UTC)
    except ValueError:
        raise InvalidInput.field(
            field, "not a date (2026-11-23) or a date-time with offset", "query"
        ) from None
    except OverflowError:  # 0001-01-01T00:00:01+03:00 is in year 0 in UTC; 9999-12-31's next day
        raise InvalidInput.field(field, "out of range (years 1 to 9999 in UTC)", "query") from None


def interaction_filters(
    *, types: Sequence[str] | None, start: str | None, end: str | None, tz: ZoneInfo
) -> InteractionFilters:
    """Filters from the query string; 422 naming ``type``, ``from`` or ``to`` if malformed."""
    lower = parse_bound(start, field="from", tz=tz, end=False)
    upper = parse_bound(end, field="to", tz=tz, end=True)
    inclusive = end is not None and len(end.strip()) != 10
    if lower is not None and upper is not None and upper < lower:
        raise InvalidInput.field("to", "must not be before from", "query")
    return InteractionFilters(
        types=parse_types(types), start=lower, end=upper, end_inclusive=inclusive
    )


def list_interactions(
    session: Session, *, account_id: str, filters: InteractionFilters, page: PageParams
) -> InteractionPage:
    """One page of an account's interactions, newest first (ties: latest recorded first)."""
    account = session.exec(
        select(Account).where(Account.external_id == account_id, Account.status != "deleted")
    ).first()
    if account is None:
        raise NotFound(f"no account with id {account_id!r}")
    query = select(Interaction).where(Interaction.account_id == account.id)
    if filters.types:
        query = query.where(col(Interaction.type).in_(filters.types))
    occurred = col(Interaction.occurred_at)
    if filters.start is not None:
        query = query.where(occurred >= filters.start)
    if filters.end is not None:
        query = query.where(occurred <= filters.end if filters.end_inclusive else occurred < filters.end)
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort=_SORT)
        last = _cursor_time(cursor.value)
        query = query.where(
            or_(occurred < last, and_(occurred == last, col(Interaction.id) < cursor.last_id))
        )
    query = query.order_by(occurred.desc(), col(Interaction.id).desc()).limit(page.limit + 1)
    rows = list(session.exec(query).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last_row = rows[-1]
        assert last_row.id is not None
        next_cursor = encode_cursor(
            Cursor(_SORT, last_row.occurred_at.isoformat(), last_row.id)
        )
    contacts = _contacts_of(session, (r.id for r in rows if r.id is not None))
    items = [
        InteractionView(r, account.external_id, contacts.get(r.id or 0, [])) for r in rows
    ]
    return InteractionPage(items, next_cursor)


def _cursor_time(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None
    if moment.tzinfo is None:
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query")
    return moment
