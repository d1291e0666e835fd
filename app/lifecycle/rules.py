"""Versioned rule sets: stage rules, signal rules and priority weights.

Saving adds a version (nothing is edited in place), so a stored weekly list names the weights it
used and a change can be compared with the one before. No row yet: the domain defaults, version 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app.errors import Conflict, FieldError, InvalidInput
from app.models import RuleSet
from app.scoring.priorities import PriorityWeights
from app.scoring.signals import SignalRules
from app.scoring.stages import StageRules

T = TypeVar("T", StageRules, SignalRules, PriorityWeights)

KINDS: dict[str, type[Any]] = {"stages": StageRules, "signals": SignalRules, "priorities": PriorityWeights}


@dataclass(frozen=True)
class Versioned(Generic[T]):
    kind: str
    version: int  # 0: the built-in defaults
    rules: T
    author: str | None
    created_at: dt.datetime | None
    note: str | None


def _latest(session: Session, kind: str) -> RuleSet | None:
    return session.execute(
        select(RuleSet).where(col(RuleSet.kind) == kind).order_by(col(RuleSet.version).desc()).limit(1)
    ).scalar_one_or_none()


def parse(kind: str, config: dict[str, Any], *, field: str = "config") -> Any:
    """The rules object for a JSON config, or a 422 naming the field."""
    try:
        return KINDS[kind].from_json(config)
    except (ValueError, TypeError) as exc:
        raise InvalidInput([FieldError(field, str(exc))]) from exc


def current(session: Session, kind: str) -> Versioned[Any]:
    """The rules of a kind in force now (the built-in defaults when none were saved)."""
    row = _latest(session, kind)
    if row is None:
        return Versioned(kind, 0, KINDS[kind](), None, None, None)
    return Versioned(kind, row.version, KINDS[kind].from_json(row.config), row.author, row.created_at,
                     row.note)


def stage_rules(session: Session) -> StageRules:
    rules: StageRules = current(session, "stages").rules
    return rules


def signal_rules(session: Session) -> SignalRules:
    rules: SignalRules = current(session, "signals").rules
    return rules


def priority_weights(session: Session) -> Versioned[PriorityWeights]:
    return current(session, "priorities")


def history(session: Session, kind: str) -> list[RuleSet]:
    """Every saved version of a kind, newest first."""
    return list(session.execute(
        select(RuleSet).where(col(RuleSet.kind) == kind).order_by(col(RuleSet.version).desc())
    ).scalars())


def save(
    session: Session, *, kind: str, config_in: dict[str, Any], author: str, note: str | None,
    now: dt.datetime, expected_version: int | None = None,
) -> Versioned[Any]:
    """A new version of the rules (defaults filled in); 409 if someone saved one meanwhile."""
    rules = parse(kind, config_in)
    latest = session.execute(
        select(func.max(RuleSet.version)).where(col(RuleSet.kind) == kind)
    ).scalar_one_or_none() or 0
    if expected_version is not None and expected_version != latest:
        raise Conflict(f"the {kind} rules changed meanwhile (now version {latest}); reload and retry")
    row = RuleSet(kind=kind, version=latest + 1, config=rules.to_json(), author=author, note=note,
                  created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"the {kind} rules changed meanwhile; reload and retry") from exc
    return Versioned(kind, row.version, rules, author, now, note)
