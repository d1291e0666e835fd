"""What every change to a success plan, goal or step goes through: its JSON view (as the API shows
it and the audit trail records it), its ETag and compare-and-set version, and its audit row.

Every plan, goal and step has a ``version``. A change names the version it was made against;
the write is a compare-and-set on that version (``UPDATE ... WHERE version = :expected``), so of
two writers holding the same version exactly one wins and the other gets 412 with the current
resource, on SQLite as on PostgreSQL. Every change writes a ``plan_audit`` row: who, when, and
the fields before → after.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel

from app.errors import FieldError, PreconditionFailed, PreconditionRequired, contention_is_busy
from app.models import Account, PlanAudit, PlanGoal, PlanStep, SuccessPlan, User
from app.pagination import Cursor, PageParams, encode_cursor

#: The actor of the changes the daily automation makes.
SYSTEM = "system"

Versioned = SuccessPlan | PlanGoal | PlanStep
_KINDS: dict[type[SQLModel], str] = {SuccessPlan: "plan", PlanGoal: "goal", PlanStep: "step"}
_ETAG = re.compile(r'^(?:W/)?"(plan|goal|step)-(\d+)-v(\d+)"$')


def etag(row: Versioned) -> str:
    """The row's ETag: ``"<kind>-<id>-v<version>"``."""
    return f'"{_KINDS[type(row)]}-{row.id}-v{row.version}"'


def expected_version(if_match: str | None, *, kind: str, id: int) -> int | None:
    """The version an ``If-Match`` header names for this resource; None when there is no header,
    0 (never current) when it names another resource or is not one of our ETags."""
    if if_match is None or not if_match.strip():
        return None
    for candidate in if_match.split(","):
        m = _ETAG.match(candidate.strip())
        if m and m.group(1) == kind and int(m.group(2)) == id:
            return int(m.group(3))
    return 0


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def plan_view(session: Session, plan: SuccessPlan) -> dict[str, Any]:
    """The plan as the API shows it (and as the audit trail records it), JSON-ready."""
    account = session.get(Account, plan.account_id)
    owner = session.get(User, plan.owner_id) if plan.owner_id else None
    fields = (
        "id",
        "title",
        "objective",
        "status",
        "customer_owner_id",
        "start_on",
        "target_on",
        "template",
        "version",
        "created_at",
        "updated_at",
    )
    out = {f: _json(getattr(plan, f)) for f in fields}
    out["account_id"] = account.external_id if account else None
    out["owner"] = owner.email if owner else None
    return out


def goal_view(session: Session, goal: PlanGoal) -> dict[str, Any]:
    """The goal as the API shows it, JSON-ready."""
    plan = session.get(SuccessPlan, goal.plan_id)
    account = session.get(Account, plan.account_id) if plan else None
    fields = (
        "id",
        "plan_id",
        "title",
        "description",
        "kind",
        "status",
        "priority",
        "position",
        "metric",
        "unit",
        "baseline",
        "target",
        "current_value",
        "metric_source",
        "success_criterion",
        "due_on",
        "achieved_at",
        "last_verified_at",
        "last_verified_by",
        "version",
        "created_at",
        "updated_at",
    )
    out = {f: _json(getattr(goal, f)) for f in fields}
    out["account_id"] = account.external_id if account else None
    return out


def step_view(session: Session, step: PlanStep) -> dict[str, Any]:
    """The step as the API shows it, JSON-ready."""
    goal = session.get(PlanGoal, step.goal_id)
    fields = (
        "id",
        "goal_id",
        "title",
        "due_on",
        "owner",
        "done",
        "done_at",
        "position",
        "version",
        "created_at",
        "updated_at",
    )
    out = {f: _json(getattr(step, f)) for f in fields}
    out["plan_id"] = goal.plan_id if goal else None
    return out


def _view(session: Session, row: Versioned) -> dict[str, Any]:
    if isinstance(row, SuccessPlan):
        return plan_view(session, row)
    if isinstance(row, PlanGoal):
        return goal_view(session, row)
    return step_view(session, row)


def _stale(session: Session, row: Versioned) -> PreconditionFailed:
    current = _view(session, row)
    tag = etag(row)
    exc = PreconditionFailed(
        f"{_KINDS[type(row)]} {row.id} has changed since you read it (now version "
        f"{row.version}); re-read it, reapply your change and send its new ETag",
        current=current,
        etag=tag,
    )
    exc.headers["ETag"] = tag
    return exc


def claim(session: Session, row: Versioned, expected: int | None, *, required: bool = True) -> None:
    """Take the row's next version if it is still at ``expected``; 428 without a version (when
    one is required), 412 with the current resource when another write got there first."""
    if expected is None:
        if required:
            raise PreconditionRequired(
                "send the resource's ETag in If-Match; GET it first if you do not have it",
                errors=[FieldError("If-Match", "required for this change", "header").as_dict()],
            )
        expected = row.version
    if expected != row.version:
        raise _stale(session, row)
    table = SQLModel.metadata.tables[str(type(row).__tablename__)]
    with contention_is_busy():
        result = session.execute(
            update(table)
            .where(table.c.id == row.id, table.c.version == expected)
            .values(version=expected + 1)
        )
    if getattr(result, "rowcount", 1) != 1:
        # A concurrent transaction committed a newer version between our read and this write.
        session.refresh(row)
        raise _stale(session, row)
    # The UPDATE above wrote the version: record it as loaded so the ORM does not write it again.
    set_committed_value(row, "version", expected + 1)


def audit(
    session: Session,
    *,
    row: Versioned,
    plan: SuccessPlan,
    action: str,
    actor: str,
    at: dt.datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> PlanAudit:
    if action not in ("create", "delete") and before is not None and after is not None:
        changed = {k for k in after if before.get(k) != after.get(k)} - {"updated_at"}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    assert row.id is not None and plan.id is not None
    entry = PlanAudit(
        entity_type=_KINDS[type(row)],
        entity_id=row.id,
        plan_id=plan.id,
        account_id=plan.account_id,
        actor=actor[:320],
        at=at,
        action=action,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def id_page(rows: list[Any], page: PageParams) -> tuple[list[Any], str | None]:
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last_id = rows[-1].id
        next_cursor = encode_cursor(Cursor("id", last_id, last_id))
    return rows, next_cursor
