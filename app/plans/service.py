"""Success plans: plans, goals and steps with optimistic concurrency and a full audit trail;
goals tracked daily from the usage rollups; templates; the unverified-goal signal.

Every plan, goal and step has a ``version``. A change names the version it was made against;
the write is a compare-and-set on that version (``UPDATE ... WHERE version = :expected``), so of
two writers holding the same version exactly one wins and the other gets 412 with the current
resource, on SQLite as on PostgreSQL. Every change writes a ``plan_audit`` row: who, when, and
the fields before → after.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, or_, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select

from app.accounts.service import get_account
from app.auth.users import require_user_by_email
from app.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    contention_is_busy,
)
from app.models import (
    Account,
    Contact,
    Interaction,
    PlanAudit,
    PlanEvent,
    PlanGoal,
    PlanGoalProgress,
    PlanStep,
    SuccessPlan,
    UsageAccountDay,
    UsageActiveUser,
    UsageDaily,
    User,
)
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor
from app.plans.schemas import GoalCreate, PlanCreate, StepCreate
from app.plans.templates import TEMPLATES, PlanTemplate, find_template
from app.usage import features as features_svc

SYSTEM = "system"
DEFAULT_UNVERIFIED_DAYS = 90
#: Goals still to be reached: the ones tracking, the past-due rule and the unverified list see.
OPEN_GOAL_STATUSES = ("not_started", "on_track", "at_risk")
#: Plans whose goals are worked on (completed and archived plans are history).
LIVE_PLAN_STATUSES = ("draft", "active")
#: Days of usage each metric looks back over, ending on the as-of day.
METRIC_WINDOWS = {
    "weekly_active_users": 7,
    "monthly_active_users": 30,
    "event_count_30d": 30,
    "feature_events_30d": 30,
}
METRIC_LABELS = {
    "weekly_active_users": "Weekly active users",
    "monthly_active_users": "Monthly active users",
    "event_count_30d": "Events in the last 30 days",
    "feature_events_30d": "Feature events in the last 30 days",
}
_QUANTITATIVE_ONLY = ("metric", "unit", "baseline", "target", "current_value", "metric_source")


# -- ETags and versions ------------------------------------------------------------------------

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
    fields = ("id", "title", "objective", "status", "customer_owner_id", "start_on", "target_on",
              "template", "version", "created_at", "updated_at")
    out = {f: _json(getattr(plan, f)) for f in fields}
    out["account_id"] = account.external_id if account else None
    out["owner"] = owner.email if owner else None
    return out


def goal_view(session: Session, goal: PlanGoal) -> dict[str, Any]:
    """The goal as the API shows it, JSON-ready."""
    plan = session.get(SuccessPlan, goal.plan_id)
    account = session.get(Account, plan.account_id) if plan else None
    fields = ("id", "plan_id", "title", "description", "kind", "status", "priority", "position",
              "metric", "unit", "baseline", "target", "current_value", "metric_source",
              "success_criterion", "due_on", "achieved_at", "last_verified_at",
              "last_verified_by", "version", "created_at", "updated_at")
    out = {f: _json(getattr(goal, f)) for f in fields}
    out["account_id"] = account.external_id if account else None
    return out


def step_view(session: Session, step: PlanStep) -> dict[str, Any]:
    """The step as the API shows it, JSON-ready."""
    goal = session.get(PlanGoal, step.goal_id)
    fields = ("id", "goal_id", "title", "due_on", "owner", "done", "done_at", "position",
              "version", "created_at", "updated_at")
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
        current=current, etag=tag,
    )
    exc.headers["ETag"] = tag
    return exc


def _claim(session: Session, row: Versioned, expected: int | None, *, required: bool = True) -> None:
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
            update(table).where(table.c.id == row.id, table.c.version == expected)
            .values(version=expected + 1)
        )
    if getattr(result, "rowcount", 1) != 1:
        # A concurrent transaction committed a newer version between our read and this write.
        session.refresh(row)
        raise _stale(session, row)
    # The UPDATE above wrote the version: record it as loaded so the ORM does not write it again.
    set_committed_value(row, "version", expected + 1)


def _audit(
    session: Session, *, row: Versioned, plan: SuccessPlan, action: str, actor: str,
    at: dt.datetime, before: dict[str, Any] | None, after: dict[str, Any] | None,
) -> PlanAudit:
    if action not in ("create", "delete") and before is not None and after is not None:
        changed = {k for k in after if before.get(k) != after.get(k)} - {"updated_at"}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    assert row.id is not None and plan.id is not None
    entry = PlanAudit(
        entity_type=_KINDS[type(row)], entity_id=row.id, plan_id=plan.id,
        account_id=plan.account_id, actor=actor[:320], at=at, action=action,
        before=before, after=after,
    )
    session.add(entry)
    return entry


# -- plans -------------------------------------------------------------------------------------


def _account_row(session: Session, account_id: str) -> Account:
    return get_account(session, account_id)


def list_plans(session: Session, *, account_id: str) -> list[SuccessPlan]:
    """The account's plans, newest first."""
    account = _account_row(session, account_id)
    return list(session.exec(
        select(SuccessPlan).where(SuccessPlan.account_id == account.id)
        .order_by(col(SuccessPlan.id).desc())
    ).all())


def get_plan(session: Session, *, account_id: str, plan_id: int) -> SuccessPlan:
    """A plan of this account; 404 if it belongs elsewhere or does not exist."""
    account = _account_row(session, account_id)
    plan = session.get(SuccessPlan, plan_id)
    if plan is None or plan.account_id != account.id:
        raise NotFound(f"no success plan {plan_id} on account {account_id!r}")
    return plan


def _check_plan(session: Session, plan: SuccessPlan) -> None:
    # The plan may hold the very change being checked: do not write it before it passes.
    with session.no_autoflush:
        _check_plan_rules(session, plan)


def _check_plan_rules(session: Session, plan: SuccessPlan) -> None:
    errors = []
    if plan.start_on and plan.target_on and plan.target_on < plan.start_on:
        errors.append(FieldError("target_on", "must not be before start_on"))
    if plan.customer_owner_id is not None:
        contact = session.get(Contact, plan.customer_owner_id)
        if contact is None or contact.account_id != plan.account_id:
            errors.append(FieldError("customer_owner_id", "not a contact of this account"))
    if errors:
        raise InvalidInput(errors)
    if plan.status == "active":
        other = session.exec(
            select(SuccessPlan.id).where(
                SuccessPlan.account_id == plan.account_id, SuccessPlan.status == "active",
                SuccessPlan.id != plan.id if plan.id is not None else true(),
            )
        ).first()
        if other is not None:
            raise Conflict(
                f"plan {other} is already active on this account; complete or archive it first",
                active_plan_id=other,
            )


def _flush_plan(session: Session) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Lost a race with a concurrent write activating another plan of the account.
        raise Conflict("another plan of this account became active at the same time") from None


def create_plan(
    session: Session, *, account_id: str, plan_in: PlanCreate, actor: str, now: dt.datetime,
    template: str | None = None,
) -> SuccessPlan:
    """A new plan on the account; 409 if it would be a second active one."""
    account = _account_row(session, account_id)
    assert account.id is not None
    owner = require_user_by_email(session, plan_in.owner).id if plan_in.owner else None
    plan = SuccessPlan(
        account_id=account.id, title=plan_in.title, objective=plan_in.objective,
        status=plan_in.status, owner_id=owner, customer_owner_id=plan_in.customer_owner_id,
        start_on=plan_in.start_on, target_on=plan_in.target_on, template=template,
        created_at=now, updated_at=now,
    )
    _check_plan(session, plan)
    session.add(plan)
    _flush_plan(session)
    _audit(session, row=plan, plan=plan, action="create", actor=actor, at=now, before=None,
           after=plan_view(session, plan))
    return plan


def update_plan(
    session: Session, *, account_id: str, plan_id: int, changes: dict[str, Any],
    expected_version: int | None, actor: str, now: dt.datetime,
) -> SuccessPlan:
    """Apply the given fields if the plan is still at ``expected_version`` (else 412)."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    before = plan_view(session, plan)
    _claim(session, plan, expected_version)
    for field in ("title", "status"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "must not be null")
    if "owner" in changes:
        owner = changes.pop("owner")
        plan.owner_id = require_user_by_email(session, owner).id if owner else None
    for field, value in changes.items():
        setattr(plan, field, value)
    _check_plan(session, plan)
    plan.updated_at = now
    session.add(plan)
    _flush_plan(session)
    _audit(session, row=plan, plan=plan, action="update", actor=actor, at=now, before=before,
           after=plan_view(session, plan))
    return plan


def delete_plan(
    session: Session, *, account_id: str, plan_id: int, expected_version: int | None, actor: str,
    now: dt.datetime,
) -> None:
    """Delete the plan with its goals and steps; its history stays readable."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    before = plan_view(session, plan)
    _claim(session, plan, expected_version)
    before["version"] = plan.version
    _audit(session, row=plan, plan=plan, action="delete", actor=actor, at=now, before=before,
           after=None)
    session.delete(plan)
    session.flush()


def plan_detail(session: Session, plan: SuccessPlan) -> dict[str, Any]:
    """The plan with its goals, each with its steps, in order."""
    out = plan_view(session, plan)
    goals = _goals_of(session, plan)
    steps: dict[int, list[PlanStep]] = defaultdict(list)
    if goals:
        for step in session.exec(
            select(PlanStep).where(col(PlanStep.goal_id).in_([g.id for g in goals]))
            .order_by(col(PlanStep.position), col(PlanStep.id))
        ).all():
            steps[step.goal_id].append(step)
    out["goals"] = [
        {**goal_view(session, g), "steps": [step_view(session, s) for s in steps[g.id or 0]]}
        for g in goals
    ]
    return out


def plan_history(
    session: Session, *, account_id: str, plan_id: int, page: PageParams
) -> tuple[list[PlanAudit], str | None]:
    """The plan's changes (its goals' and steps' included), oldest first; also after deletion."""
    account = _account_row(session, account_id)
    query = select(PlanAudit).where(
        PlanAudit.account_id == account.id, PlanAudit.plan_id == plan_id
    )
    if page.cursor:
        query = query.where(col(PlanAudit.id) > decode_cursor(page.cursor, sort="id").last_id)
    rows = list(session.exec(query.order_by(col(PlanAudit.id)).limit(page.limit + 1)).all())
    if not rows and not page.cursor:
        get_plan(session, account_id=account_id, plan_id=plan_id)
    return _page(rows, page)


def _page(rows: list[Any], page: PageParams) -> tuple[list[Any], str | None]:
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last_id = rows[-1].id
        next_cursor = encode_cursor(Cursor("id", last_id, last_id))
    return rows, next_cursor


# -- goals -------------------------------------------------------------------------------------


def _goals_of(session: Session, plan: SuccessPlan) -> list[PlanGoal]:
    return list(session.exec(
        select(PlanGoal).where(PlanGoal.plan_id == plan.id)
        .order_by(col(PlanGoal.position), col(PlanGoal.id))
    ).all())


def list_goals(session: Session, *, account_id: str, plan_id: int) -> list[PlanGoal]:
    """The plan's goals in order."""
    return _goals_of(session, get_plan(session, account_id=account_id, plan_id=plan_id))


def get_goal(session: Session, *, account_id: str, plan_id: int, goal_id: int) -> PlanGoal:
    """A goal of this plan; 404 if it belongs elsewhere or does not exist."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    goal = session.get(PlanGoal, goal_id)
    if goal is None or goal.plan_id != plan.id:
        raise NotFound(f"no goal {goal_id} in success plan {plan_id}")
    return goal


def _check_goal(session: Session, goal: PlanGoal) -> None:
    with session.no_autoflush:
        _check_goal_rules(session, goal)


def _check_goal_rules(session: Session, goal: PlanGoal) -> None:
    errors: list[FieldError] = []
    if goal.kind == "qualitative":
        for field in _QUANTITATIVE_ONLY:
            if getattr(goal, field) is not None:
                errors.append(FieldError(field, "only a quantitative goal has this; clear it"))
        if not (goal.success_criterion or "").strip():
            errors.append(FieldError("success_criterion", "a qualitative goal needs one"))
    else:
        if goal.target is None:
            errors.append(FieldError("target", "a quantitative goal needs a target"))
        if not goal.metric:
            errors.append(FieldError("metric", "name what is measured (or link metric_source)"))
        source = goal.metric_source
        if source is not None:
            feature = source.get("feature")
            if source.get("metric") == "feature_events_30d":
                if not feature:
                    errors.append(FieldError("metric_source.feature", "name a catalog feature"))
                elif feature not in {f.key for f in features_svc.list_features(session)}:
                    errors.append(FieldError("metric_source.feature", f"no feature {feature!r}"))
            elif feature is not None:
                errors.append(
                    FieldError("metric_source.feature", "only for metric feature_events_30d")
                )
    if errors:
        raise InvalidInput(errors)


def _clean_source(source: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if source is None else {k: v for k, v in source.items() if v is not None}


def _apply_goal_status(goal: PlanGoal, now: dt.datetime) -> None:
    if goal.status == "achieved" and goal.achieved_at is None:
        goal.achieved_at = now
    elif goal.status != "achieved":
        goal.achieved_at = None


def _next_position(session: Session, model: Any, parent: ColumnElement[bool]) -> int:
    last = session.exec(select(func.max(model.position)).where(parent)).one()
    return 0 if last is None else int(last) + 1


def create_goal(
    session: Session, *, account_id: str, plan_id: int, goal_in: GoalCreate, actor: str,
    now: dt.datetime,
) -> PlanGoal:
    """A new goal in the plan; 422 naming a field that does not fit the goal's kind."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    data = goal_in.model_dump()
    data["metric_source"] = _clean_source(data["metric_source"])
    if data["metric_source"] is not None and data["metric"] is None and goal_in.kind != "qualitative":
        data["metric"] = METRIC_LABELS[data["metric_source"]["metric"]]
    if data["position"] is None:
        data["position"] = _next_position(session, PlanGoal, col(PlanGoal.plan_id) == plan.id)
    assert plan.id is not None
    goal = PlanGoal(**data, plan_id=plan.id, created_at=now, updated_at=now)
    _check_goal(session, goal)
    _apply_goal_status(goal, now)
    session.add(goal)
    session.flush()
    _audit(session, row=goal, plan=plan, action="create", actor=actor, at=now, before=None,
           after=goal_view(session, goal))
    return goal


def update_goal(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, changes: dict[str, Any],
    expected_version: int | None, actor: str, now: dt.datetime,
) -> PlanGoal:
    """Apply the given fields if the goal is still at ``expected_version`` (else 412)."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    _claim(session, goal, expected_version)
    for field in ("title", "kind", "status", "priority", "position"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "must not be null")
    if "metric_source" in changes:
        changes["metric_source"] = _clean_source(changes["metric_source"])
    for field, value in changes.items():
        setattr(goal, field, value)
    if "metric_source" in changes and changes["metric_source"] and not goal.metric:
        goal.metric = METRIC_LABELS[changes["metric_source"]["metric"]]
    _check_goal(session, goal)
    _apply_goal_status(goal, now)
    goal.updated_at = now
    session.add(goal)
    session.flush()
    _audit(session, row=goal, plan=plan, action="update", actor=actor, at=now, before=before,
           after=goal_view(session, goal))
    return goal


def verify_goal(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, status: str | None,
    expected_version: int | None, actor: str, now: dt.datetime,
) -> PlanGoal:
    """Record that the goal was re-validated with the customer now (and by whom); If-Match is
    optional here, and checked when given."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    _claim(session, goal, expected_version, required=False)
    goal.last_verified_at = now
    goal.last_verified_by = actor[:320]
    if status is not None:
        goal.status = status
        _apply_goal_status(goal, now)
    goal.updated_at = now
    session.add(goal)
    session.flush()
    _audit(session, row=goal, plan=plan, action="verify", actor=actor, at=now, before=before,
           after=goal_view(session, goal))
    return goal


def delete_goal(
    session: Session, *, account_id: str, plan_id: int, goal_id: int,
    expected_version: int | None, actor: str, now: dt.datetime,
) -> None:
    """Delete the goal with its steps and progress series."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    _claim(session, goal, expected_version)
    before["version"] = goal.version
    _audit(session, row=goal, plan=plan, action="delete", actor=actor, at=now, before=before,
           after=None)
    session.delete(goal)
    session.flush()


def goal_progress(
    session: Session, *, account_id: str, plan_id: int, goal_id: int
) -> list[PlanGoalProgress]:
    """The tracked goal's daily values, oldest first."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    return list(session.exec(
        select(PlanGoalProgress).where(PlanGoalProgress.goal_id == goal.id)
        .order_by(col(PlanGoalProgress.day))
    ).all())


# -- steps -------------------------------------------------------------------------------------


def list_steps(session: Session, *, account_id: str, plan_id: int, goal_id: int) -> list[PlanStep]:
    """The goal's steps in order."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    return list(session.exec(
        select(PlanStep).where(PlanStep.goal_id == goal.id)
        .order_by(col(PlanStep.position), col(PlanStep.id))
    ).all())


def get_step(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, step_id: int
) -> PlanStep:
    """A step of this goal; 404 if it belongs elsewhere or does not exist."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    step = session.get(PlanStep, step_id)
    if step is None or step.goal_id != goal.id:
        raise NotFound(f"no step {step_id} in goal {goal_id}")
    return step


def _plan_of_goal(session: Session, goal_id: int) -> SuccessPlan:
    goal = session.get(PlanGoal, goal_id)
    plan = session.get(SuccessPlan, goal.plan_id) if goal else None
    assert plan is not None
    return plan


def create_step(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, step_in: StepCreate,
    actor: str, now: dt.datetime,
) -> PlanStep:
    """A new step (milestone) on the goal."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    assert goal.id is not None
    data = step_in.model_dump()
    if data["position"] is None:
        data["position"] = _next_position(session, PlanStep, col(PlanStep.goal_id) == goal.id)
    step = PlanStep(**data, goal_id=goal.id, done_at=now if step_in.done else None,
                    created_at=now, updated_at=now)
    session.add(step)
    session.flush()
    _audit(session, row=step, plan=_plan_of_goal(session, goal.id), action="create", actor=actor,
           at=now, before=None, after=step_view(session, step))
    return step


def update_step(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, step_id: int,
    changes: dict[str, Any], expected_version: int | None, actor: str, now: dt.datetime,
) -> PlanStep:
    """Apply the given fields if the step is still at ``expected_version`` (else 412)."""
    step = get_step(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id,
                    step_id=step_id)
    before = step_view(session, step)
    _claim(session, step, expected_version)
    for field in ("title", "done", "position"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "must not be null")
    was_done = step.done
    for field, value in changes.items():
        setattr(step, field, value)
    if step.done and not was_done:
        step.done_at = now
    elif not step.done:
        step.done_at = None
    step.updated_at = now
    session.add(step)
    session.flush()
    _audit(session, row=step, plan=_plan_of_goal(session, step.goal_id), action="update",
           actor=actor, at=now, before=before, after=step_view(session, step))
    return step


def delete_step(
    session: Session, *, account_id: str, plan_id: int, goal_id: int, step_id: int,
    expected_version: int | None, actor: str, now: dt.datetime,
) -> None:
    """Delete the step."""
    step = get_step(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id,
                    step_id=step_id)
    before = step_view(session, step)
    _claim(session, step, expected_version)
    before["version"] = step.version
    _audit(session, row=step, plan=_plan_of_goal(session, step.goal_id), action="delete",
           actor=actor, at=now, before=before, after=None)
    session.delete(step)
    session.flush()


# -- goals across accounts ---------------------------------------------------------------------


@dataclass(frozen=True)
class GoalFilters:
    status: str | None = None
    owner: str | None = None  # the plan owner's email, or "none"
    account_id: str | None = None
    unverified_days: int | None = None  # open goals not verified (or created) in this many days


def search_goals(
    session: Session, *, filters: GoalFilters, page: PageParams, now: dt.datetime
) -> tuple[list[PlanGoal], str | None]:
    """One page of goals across accounts (deleted accounts left out), in id order."""
    query = (
        select(PlanGoal)
        .join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .join(Account, col(Account.id) == col(SuccessPlan.account_id))
        .where(Account.status != "deleted")
    )
    if filters.status:
        query = query.where(PlanGoal.status == filters.status)
    if filters.owner == "none":
        query = query.where(col(SuccessPlan.owner_id).is_(None))
    elif filters.owner:
        query = query.join(User, col(User.id) == col(SuccessPlan.owner_id)).where(
            User.email == filters.owner.strip().lower()
        )
    if filters.account_id:
        query = query.where(Account.external_id == filters.account_id)
    if filters.unverified_days is not None:
        query = query.where(*_unverified(filters.unverified_days, now))
    if page.cursor:
        query = query.where(col(PlanGoal.id) > decode_cursor(page.cursor, sort="id").last_id)
    rows = list(session.exec(query.order_by(col(PlanGoal.id)).limit(page.limit + 1)).all())
    return _page(rows, page)


def _unverified(days: int, now: dt.datetime) -> list[ColumnElement[bool]]:
    cutoff = now - dt.timedelta(days=days)
    return [
        col(PlanGoal.status).in_(OPEN_GOAL_STATUSES),
        col(SuccessPlan.status).in_(LIVE_PLAN_STATUSES),
        or_(
            col(PlanGoal.last_verified_at) < cutoff,
            and_(col(PlanGoal.last_verified_at).is_(None), col(PlanGoal.created_at) < cutoff),
        ),
    ]


def unverified_goals(
    session: Session, *, older_than_days: int = DEFAULT_UNVERIFIED_DAYS, as_of: dt.datetime
) -> list[tuple[PlanGoal, SuccessPlan, Account]]:
    """Open goals of live plans not re-validated with the customer for more than the given days
    (never-verified goals count from their creation): a signal for the priority list."""
    rows = session.exec(
        select(PlanGoal, SuccessPlan, Account)
        .join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .join(Account, col(Account.id) == col(SuccessPlan.account_id))
        .where(Account.status == "active", *_unverified(older_than_days, as_of))
        .order_by(col(Account.id), col(PlanGoal.id))
    ).all()
    return [(g, p, a) for g, p, a in rows]


# -- templates ---------------------------------------------------------------------------------


def list_templates() -> tuple[PlanTemplate, ...]:
    return TEMPLATES


def create_plan_from_template(
    session: Session, *, account_id: str, template: str, title: str | None,
    start_on: dt.date | None, today: dt.date, actor: str, now: dt.datetime,
) -> SuccessPlan:
    """A plan with the template's goals and steps; active unless the account already has an
    active plan (then a draft). Tracked goals start from today's metric value as baseline."""
    found = find_template(template)
    if found is None:
        known = ", ".join(t.key for t in TEMPLATES)
        raise InvalidInput.field("template", f"unknown template; one of {known}")
    account = _account_row(session, account_id)
    assert account.id is not None
    start = start_on or today
    has_active = session.exec(
        select(SuccessPlan.id).where(
            SuccessPlan.account_id == account.id, SuccessPlan.status == "active"
        )
    ).first() is not None
    owner = session.get(User, account.owner_id) if account.owner_id else None
    plan = create_plan(
        session, account_id=account_id, actor=actor, now=now, template=found.key,
        plan_in=PlanCreate(
            title=title or found.name, objective=found.objective,
            status="draft" if has_active else "active", owner=owner.email if owner else None,
            start_on=start, target_on=start + dt.timedelta(days=found.duration_days),
        ),
    )
    assert plan.id is not None
    for goal_t in found.goals:
        target = goal_t.target
        if goal_t.target_per_seat and account.licensed_seats:
            target = float(max(1, math.ceil(account.licensed_seats * goal_t.target_per_seat)))
        baseline = None
        if goal_t.metric_source is not None:
            values = metric_values(session, source=goal_t.metric_source,
                                   account_ids=[account.id], as_of=today)
            baseline = values.get(account.id, 0.0)
            if target is not None and baseline >= target:
                # Already there: aim 20% beyond today (an increase goal, not a decrease one).
                target = float(math.ceil(baseline * 1.2)) or 1.0
        goal = create_goal(
            session, account_id=account_id, plan_id=plan.id, actor=actor, now=now,
            goal_in=GoalCreate.model_validate({
                "title": goal_t.title, "description": goal_t.description, "kind": goal_t.kind,
                "priority": goal_t.priority, "metric": goal_t.metric, "unit": goal_t.unit,
                "baseline": baseline, "target": target, "current_value": baseline,
                "metric_source": goal_t.metric_source,
                "success_criterion": goal_t.success_criterion,
                "due_on": start + dt.timedelta(days=goal_t.due_in_days),
            }),
        )
        assert goal.id is not None
        for step_t in goal_t.steps:
            step_owner = step_t.owner
            if step_owner == "csm":
                step_owner = owner.email if owner else None
            create_step(
                session, account_id=account_id, plan_id=plan.id, goal_id=goal.id, actor=actor,
                now=now, step_in=StepCreate(
                    title=step_t.title, owner=step_owner,
                    due_on=start + dt.timedelta(days=step_t.due_in_days),
                ),
            )
    return plan


# -- interim metrics and the daily automation -----------------------------------------------------


def metric_values(
    session: Session, *, source: dict[str, Any], account_ids: list[int], as_of: dt.date
) -> dict[int, float]:
    """Each account's value of a usage metric for the window ending on ``as_of`` (0 when idle)."""
    metric = source["metric"]
    start = as_of - dt.timedelta(days=METRIC_WINDOWS[metric] - 1)
    out: dict[int, float] = dict.fromkeys(account_ids, 0.0)
    if not account_ids:
        return out
    if metric in ("weekly_active_users", "monthly_active_users"):
        for account_id, n in session.execute(
            select(UsageActiveUser.account_id, func.count(distinct(col(UsageActiveUser.user_key))))
            .where(col(UsageActiveUser.account_id).in_(account_ids),
                   col(UsageActiveUser.day).between(start, as_of))
            .group_by(col(UsageActiveUser.account_id))
        ).all():
            out[account_id] = float(n)
        # Pushed daily aggregates count users without naming them: the busiest day is then a
        # lower bound for the window (on every other day it is at most the distinct users).
        for account_id, n in session.execute(
            select(UsageAccountDay.account_id, func.max(UsageAccountDay.active_users))
            .where(col(UsageAccountDay.account_id).in_(account_ids),
                   col(UsageAccountDay.day).between(start, as_of))
            .group_by(col(UsageAccountDay.account_id))
        ).all():
            out[account_id] = max(out[account_id], float(n or 0))
    elif metric == "event_count_30d":
        for account_id, n in session.execute(
            select(UsageAccountDay.account_id, func.sum(UsageAccountDay.event_count))
            .where(col(UsageAccountDay.account_id).in_(account_ids),
                   col(UsageAccountDay.day).between(start, as_of))
            .group_by(col(UsageAccountDay.account_id))
        ).all():
            out[account_id] = float(n or 0)
    else:
        matcher = features_svc.catalog(session)
        feature = source.get("feature")
        for account_id, event, n in session.execute(
            select(UsageDaily.account_id, UsageDaily.event, func.sum(UsageDaily.event_count))
            .where(col(UsageDaily.account_id).in_(account_ids),
                   col(UsageDaily.day).between(start, as_of))
            .group_by(col(UsageDaily.account_id), col(UsageDaily.event))
        ).all():
            if matcher.feature_of(event) == feature:
                out[account_id] += float(n or 0)
    return out


def _reached(goal: PlanGoal, value: float) -> bool:
    """Whether the value meets the target; a target below the baseline is reached from above
    (fewer support tickets: baseline 40, target 10 → reached at 10 or less)."""
    if goal.target is None:
        return False
    if goal.baseline is not None and goal.target < goal.baseline:
        return value <= goal.target
    return value >= goal.target


def _event(
    session: Session, *, kind: str, goal: PlanGoal, plan: SuccessPlan, account: Account,
    now: dt.datetime, **payload: Any,
) -> PlanEvent:
    event = PlanEvent(
        account_id=plan.account_id, goal_id=goal.id, kind=kind, at=now,
        payload={"account_id": account.external_id, "plan_id": plan.id, "goal_id": goal.id,
                 "goal_title": goal.title, **payload},
    )
    session.add(event)
    return event


def _timeline_note(
    session: Session, *, goal: PlanGoal, plan: SuccessPlan, now: dt.datetime
) -> None:
    value = f"{goal.current_value:g}" if goal.current_value is not None else "-"
    target = f"{goal.target:g}" if goal.target is not None else "-"
    session.add(Interaction(
        account_id=plan.account_id, type="note", occurred_at=now, author=SYSTEM,
        title=f"Goal achieved: {goal.title}"[:500],
        body=(f"Success plan “{plan.title}”: {goal.metric or 'the metric'} reached {value} "
              f"{goal.unit or ''} (target {target}).").replace("  ", " "),
        data={}, created_at=now,
    ))


def track_goals(session: Session, *, as_of: dt.date, now: dt.datetime) -> list[PlanEvent]:
    """The daily automation: update tracked goals' values from the rollups (with a progress
    point for ``as_of``), mark reached goals achieved (timeline note + event) and past-due open
    goals at risk (event); returns the events raised."""
    rows = session.exec(
        select(PlanGoal, SuccessPlan, Account)
        .join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .join(Account, col(Account.id) == col(SuccessPlan.account_id))
        .where(Account.status == "active", col(SuccessPlan.status).in_(LIVE_PLAN_STATUSES),
               col(PlanGoal.status).in_(OPEN_GOAL_STATUSES))
        .order_by(col(PlanGoal.id))
    ).all()
    by_source: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for goal, plan, _ in rows:
        if goal.kind == "quantitative" and goal.metric_source:
            key = (goal.metric_source["metric"], goal.metric_source.get("feature"))
            by_source[key].append(plan.account_id)
    values = {
        key: metric_values(session, source={"metric": key[0], "feature": key[1]},
                           account_ids=sorted(set(ids)), as_of=as_of)
        for key, ids in by_source.items()
    }
    events: list[PlanEvent] = []
    for goal, plan, account in rows:
        changes: dict[str, Any] = {}
        raised: list[tuple[str, dict[str, Any]]] = []
        if goal.kind == "quantitative" and goal.metric_source:
            key = (goal.metric_source["metric"], goal.metric_source.get("feature"))
            value = values[key][plan.account_id]
            _record_progress(session, goal, as_of, value, now)
            if goal.current_value != value:
                changes["current_value"] = value
            if _reached(goal, value):
                changes.update(status="achieved", achieved_at=now)
                raised.append(("goal_achieved", {"value": value, "target": goal.target}))
        if (changes.get("status", goal.status) in ("not_started", "on_track")
                and goal.due_on is not None and goal.due_on < as_of):
            changes["status"] = "at_risk"
            raised.append(("goal_at_risk", {"reason": "past_due",
                                            "due_on": goal.due_on.isoformat()}))
        if not changes:
            continue
        before = goal_view(session, goal)
        try:
            _claim(session, goal, goal.version)
        except PreconditionFailed:
            continue  # a concurrent edit won; the goal is looked at again on the next run
        for field, new_value in changes.items():
            setattr(goal, field, new_value)
        goal.updated_at = now
        session.add(goal)
        session.flush()
        _audit(session, row=goal, plan=plan, action="auto", actor=SYSTEM, at=now,
               before=before, after=goal_view(session, goal))
        for kind, payload in raised:
            events.append(_event(session, kind=kind, goal=goal, plan=plan, account=account,
                                 now=now, **payload))
            if kind == "goal_achieved":
                _timeline_note(session, goal=goal, plan=plan, now=now)
    session.flush()
    return events


def _record_progress(
    session: Session, goal: PlanGoal, day: dt.date, value: float, now: dt.datetime
) -> None:
    assert goal.id is not None
    point = session.get(PlanGoalProgress, (goal.id, day))
    if point is None:
        session.add(PlanGoalProgress(goal_id=goal.id, day=day, value=value, recorded_at=now))
    else:
        point.value, point.recorded_at = value, now
        session.add(point)


def recent_events(session: Session, *, since: dt.datetime) -> list[PlanEvent]:
    """Events raised since a time, oldest first (for the web app and webhooks)."""
    return list(session.exec(
        select(PlanEvent).where(col(PlanEvent.at) >= since).order_by(col(PlanEvent.id))
    ).all())
