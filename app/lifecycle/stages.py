"""Lifecycle stages and signals, computed daily with the scoring and kept as history.

``run_daily`` reads every active account's facts once (``account_facts``), decides stages and
signals with the pure rules, records stage transitions and signal episodes (fired → seen → cleared),
and returns the facts so the playbooks can turn them into tasks in the same run. Running it twice
on a day changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, select, update
from sqlmodel import Session, col

from app.accounts import facts as account_facts
from app.accounts.facts import Facts, Scale
from app.accounts.service import get_account
from app.db import dialect_insert, table_of
from app.errors import FieldError, InvalidInput
from app.lifecycle import rules
from app.models import STAGE_NAMES, Account, AccountSignal, AccountStage, ChampionRating, StageChange, User
from app.scoring.signals import SIGNAL_KINDS, Signal, SignalRules, detect
from app.scoring.stages import StageResult, StageRules, assess_stage, transitions

STAGE = table_of(AccountStage)
CHANGE = table_of(StageChange)
SIGNAL = table_of(AccountSignal)
ACCOUNT = table_of(Account)


@dataclass(frozen=True)
class Assessed:
    """One account's facts with the stage and signals they give."""

    facts: Facts
    stage: StageResult
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class DailyResult:
    day: dt.date
    accounts: int
    stage_changes: int
    signals_fired: int
    signals_cleared: int
    assessed: dict[int, Assessed]


def target_industries(session: Session, *, day: dt.date) -> set[str]:
    """The industries in the target tier (tier 1, or overridden to it) as of the day."""
    from app.accounts.industries import industry_tiers

    return {name for name, tier in industry_tiers(session, as_of=day).items() if tier.is_target}


def assess(
    session: Session, *, at: dt.datetime, tz: ZoneInfo, account_ids: list[int] | None = None,
    scale: Scale | None = None, stage_rules: StageRules | None = None,
    signal_rules: SignalRules | None = None,
) -> dict[int, Assessed]:
    """Every active account's (or the given ones') facts, stage and signals as of ``at``. Each
    account's score, adoption line and scale are its primary model's unless ``scale`` is given."""
    scales = scale or account_facts.account_scales(session, account_ids)
    stage_rules = stage_rules or rules.stage_rules(session)
    signal_rules = signal_rules or rules.signal_rules(session)
    facts = account_facts.gather(session, at=at, tz=tz, scale=scales, stage_rules=stage_rules,
                                 signal_rules=signal_rules, account_ids=account_ids)
    day = at.astimezone(tz).date()
    return {
        account_id: Assessed(f, assess_stage(f.stage_inputs(), stage_rules),
                             tuple(detect(f.signal_inputs(day, f.scale), signal_rules)))
        for account_id, f in facts.items()
    }


def run_daily(session: Session, *, now: dt.datetime, tz: ZoneInfo) -> DailyResult:
    """Stages and signals for every active account as of now, recorded as history."""
    day = now.astimezone(tz).date()
    assessed = assess(session, at=now, tz=tz)
    changes = _record_stages(session, assessed, day)
    fired, cleared = _record_signals(session, assessed, day)
    session.expire_all()  # the bulk statements bypassed the identity map
    return DailyResult(day, len(assessed), changes, fired, cleared, assessed)


def _record_stages(session: Session, assessed: dict[int, Assessed], day: dt.date) -> int:
    current = {
        row.account_id: row.stage
        for row in session.execute(select(STAGE.c.account_id, STAGE.c.stage)).all()
        if row.account_id in assessed
    }
    changes = transitions(current, {account_id: a.stage for account_id, a in assessed.items()})
    moved = {c.account_id for c in changes}
    new_rows, changed, same, history = [], [], [], []
    for c in changes:
        detail = assessed[c.account_id].stage.to_json()
        history.append({"account_id": c.account_id, "previous": c.previous, "stage": c.stage,
                        "changed_on": day, "detail": detail})
        if c.previous is None:
            new_rows.append({"account_id": c.account_id, "stage": c.stage, "since_on": day,
                             "computed_on": day, "detail": detail})
        else:
            changed.append({"b_account_id": c.account_id, "b_stage": c.stage, "b_since_on": day,
                            "b_computed_on": day, "b_detail": detail})
    for account_id, a in assessed.items():
        if account_id not in moved:
            same.append({"b_account_id": account_id, "b_computed_on": day, "b_detail": a.stage.to_json()})
    if new_rows:
        session.execute(STAGE.insert(), new_rows)
    if changed:
        session.execute(
            update(STAGE).where(STAGE.c.account_id == bindparam("b_account_id")).values(
                stage=bindparam("b_stage"), since_on=bindparam("b_since_on"),
                computed_on=bindparam("b_computed_on"), detail=bindparam("b_detail")),
            changed, execution_options={"synchronize_session": False},
        )
    if same:
        session.execute(
            update(STAGE).where(STAGE.c.account_id == bindparam("b_account_id")).values(
                computed_on=bindparam("b_computed_on"), detail=bindparam("b_detail")),
            same, execution_options={"synchronize_session": False},
        )
    if history:
        session.execute(CHANGE.insert(), history)
    return len(history)


def _record_signals(session: Session, assessed: dict[int, Assessed], day: dt.date) -> tuple[int, int]:
    open_rows = {
        (row.account_id, row.kind): row.id
        for row in session.execute(
            select(SIGNAL.c.id, SIGNAL.c.account_id, SIGNAL.c.kind).where(SIGNAL.c.cleared_on.is_(None))
        ).all()
        if row.account_id in assessed
    }
    seen, fired = [], []
    active: set[tuple[int, str]] = set()
    for account_id, a in assessed.items():
        for s in a.signals:
            key = (account_id, s.kind)
            active.add(key)
            if key in open_rows:
                seen.append({"b_id": open_rows[key], "b_last_on": day, "b_data": s.data,
                             "b_severity": s.severity})
            else:
                fired.append({"account_id": account_id, "kind": s.kind, "severity": s.severity,
                              "first_on": day, "last_on": day, "cleared_on": None,
                              "fired_data": s.data, "data": s.data})
    cleared = [{"b_id": row_id, "b_cleared_on": day}
               for key, row_id in open_rows.items() if key not in active]
    if seen:
        session.execute(
            update(SIGNAL).where(SIGNAL.c.id == bindparam("b_id")).values(
                last_on=bindparam("b_last_on"), data=bindparam("b_data"),
                severity=bindparam("b_severity")),
            seen, execution_options={"synchronize_session": False},
        )
    if cleared:
        session.execute(
            update(SIGNAL).where(SIGNAL.c.id == bindparam("b_id")).values(
                cleared_on=bindparam("b_cleared_on")),
            cleared, execution_options={"synchronize_session": False},
        )
    if fired:
        insert = dialect_insert(session, SIGNAL)
        session.execute(insert.on_conflict_do_nothing(
            index_elements=["account_id", "kind"], index_where=SIGNAL.c.cleared_on.is_(None)), fired)
    return len(fired), len(cleared)


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageView:
    account: Account
    stage: AccountStage | None
    history: list[StageChange]


def account_stage(session: Session, *, account_id: str) -> StageView:
    """The account's current stage with its indicators, and its transitions (newest first)."""
    account = get_account(session, account_id)
    stage = session.get(AccountStage, account.id)
    changes = list(session.execute(
        select(StageChange).where(StageChange.account_id == account.id)  # type: ignore[arg-type]
        .order_by(StageChange.changed_on.desc(), StageChange.id.desc())  # type: ignore[attr-defined,union-attr]
    ).scalars())
    return StageView(account, stage, changes)


def stage_counts(session: Session, *, owner_id: int | None = None) -> dict[str, int]:
    """How many active accounts are in each stage (optionally one owner's)."""
    query = (
        select(STAGE.c.stage, func.count())
        .join(ACCOUNT, ACCOUNT.c.id == STAGE.c.account_id)
        .where(ACCOUNT.c.status == "active")
        .group_by(STAGE.c.stage)
    )
    if owner_id is not None:
        query = query.where(ACCOUNT.c.owner_id == owner_id)
    found = {row[0]: int(row[1]) for row in session.execute(query).all()}
    return {name: found.get(name, 0) for name in STAGE_NAMES}


def stages_of(session: Session, account_ids: Sequence[int]) -> dict[int, str]:
    """Current stage per account id (for lists and pages)."""
    if not account_ids:
        return {}
    return {
        row.account_id: row.stage
        for row in session.execute(
            select(STAGE.c.account_id, STAGE.c.stage).where(STAGE.c.account_id.in_(list(account_ids)))
        ).all()
    }


def account_signals(
    session: Session, *, account_id: str, active_only: bool = False
) -> tuple[Account, list[AccountSignal]]:
    """The account's signal episodes, open ones first, then newest first."""
    account = get_account(session, account_id)
    query = select(AccountSignal).where(AccountSignal.account_id == account.id)  # type: ignore[arg-type]
    if active_only:
        query = query.where(AccountSignal.cleared_on.is_(None))  # type: ignore[union-attr]
    rows = list(session.execute(query).scalars())
    rows.sort(key=lambda s: (s.cleared_on is not None, -s.first_on.toordinal(), s.kind))
    return account, rows


def active_signals_of(session: Session, account_ids: Sequence[int]) -> dict[int, list[AccountSignal]]:
    """Open signal episodes per account id."""
    out: dict[int, list[AccountSignal]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    for row in session.execute(
        select(AccountSignal).where(
            and_(AccountSignal.cleared_on.is_(None),  # type: ignore[union-attr]
                 AccountSignal.account_id.in_(list(account_ids))))  # type: ignore[attr-defined]
    ).scalars():
        out[row.account_id].append(row)
    return out


def rate_champion(
    session: Session, *, account_id: str, rating: int, comment: str | None, user: User | None,
    author: str, now: dt.datetime,
) -> ChampionRating:
    """Records the CSM's 1–5 rating of the champion's motivation (the latest one counts)."""
    if not 1 <= rating <= 5:
        raise InvalidInput([FieldError("rating", "must be between 1 and 5")])
    account = get_account(session, account_id)
    assert account.id is not None
    row = ChampionRating(account_id=account.id, rating=rating, comment=comment,
                         author_user_id=user.id if user else None, author=author, created_at=now)
    session.add(row)
    session.flush()
    return row


def latest_champion_rating(session: Session, account_id: int) -> ChampionRating | None:
    return session.execute(
        select(ChampionRating).where(ChampionRating.account_id == account_id)  # type: ignore[arg-type]
        .order_by(ChampionRating.created_at.desc(), ChampionRating.id.desc()).limit(1)  # type: ignore[attr-defined,union-attr]
    ).scalar_one_or_none()


def require_stage(value: str, *, field: str = "stage") -> str:
    if value not in STAGE_NAMES:
        raise InvalidInput([FieldError(field, f"must be one of {', '.join(STAGE_NAMES)}", "query")])
    return value



def list_stages(
    session: Session, *, stage: str | None, owner_id: int | None, after_id: int | None, limit: int
) -> list[tuple[Account, AccountStage]]:
    """Active accounts with their current stage, by account id (keyset: after ``after_id``)."""
    query = (
        select(Account, AccountStage)
        .join(AccountStage, AccountStage.account_id == Account.id)  # type: ignore[arg-type]
        .where(Account.status == "active")  # type: ignore[arg-type]
        .order_by(Account.id)  # type: ignore[arg-type]
        .limit(limit)
    )
    if stage is not None:
        query = query.where(AccountStage.stage == require_stage(stage))  # type: ignore[arg-type]
    if owner_id is not None:
        query = query.where(Account.owner_id == owner_id)  # type: ignore[arg-type]
    if after_id is not None:
        query = query.where(col(Account.id) > after_id)
    return [(a, s) for a, s in session.execute(query).all()]


def list_signals(
    session: Session, *, kind: str | None, owner_id: int | None, active: bool, after_id: int | None,
    limit: int,
) -> list[tuple[AccountSignal, Account]]:
    """Signal episodes (open ones, or all) with their accounts, newest id first (keyset)."""
    query = (
        select(AccountSignal, Account)
        .join(Account, Account.id == AccountSignal.account_id)  # type: ignore[arg-type]
        .where(Account.status != "deleted")  # type: ignore[arg-type]
        .order_by(AccountSignal.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    )
    if kind is not None:
        if kind not in SIGNAL_KINDS:
            raise InvalidInput([FieldError("kind", f"must be one of {', '.join(SIGNAL_KINDS)}", "query")])
        query = query.where(AccountSignal.kind == kind)  # type: ignore[arg-type]
    if active:
        query = query.where(AccountSignal.cleared_on.is_(None))  # type: ignore[union-attr]
    if owner_id is not None:
        query = query.where(Account.owner_id == owner_id)  # type: ignore[arg-type]
    if after_id is not None:
        query = query.where(col(AccountSignal.id) < after_id)
    return [(s, a) for s, a in session.execute(query).all()]
