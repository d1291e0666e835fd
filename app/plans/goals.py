"""Goals of a success plan: creating, changing, verifying with the customer and deleting them
(a field that does not fit the goal's kind is refused), a tracked goal's daily progress, and
goals across accounts (filtered, or not re-validated for too long)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import Session, col, select

from app.errors import FieldError, InvalidInput, NotFound
from app.models import Account, PlanGoal, PlanGoalProgress, SuccessPlan, User
from app.pagination import PageParams, decode_cursor
from app.plans.metrics import METRIC_LABELS
from app.plans.plans import LIVE_PLAN_STATUSES, OPEN_GOAL_STATUSES, get_plan, goals_of
from app.plans.records import audit, claim, goal_view, id_page
from app.plans.schemas import GoalCreate
from app.usage import features as features_svc

DEFAULT_UNVERIFIED_DAYS = 90
_QUANTITATIVE_ONLY = ("metric", "unit", "baseline", "target", "current_value", "metric_source")


def list_goals(session: Session, *, account_id: str, plan_id: int) -> list[PlanGoal]:
    """The plan's goals in order."""
    return goals_of(session, get_plan(session, account_id=account_id, plan_id=plan_id))


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
                errors.append(FieldError("metric_source.feature", "only for metric feature_events_30d"))
    if errors:
        raise InvalidInput(errors)


def _clean_source(source: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if source is None else {k: v for k, v in source.items() if v is not None}


def _apply_goal_status(goal: PlanGoal, now: dt.datetime) -> None:
    if goal.status == "achieved" and goal.achieved_at is None:
        goal.achieved_at = now
    elif goal.status != "achieved":
        goal.achieved_at = None


def next_position(session: Session, model: Any, parent: ColumnElement[bool]) -> int:
    last = session.exec(select(func.max(model.position)).where(parent)).one()
    return 0 if last is None else int(last) + 1


def create_goal(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_in: GoalCreate,
    actor: str,
    now: dt.datetime,
) -> PlanGoal:
    """A new goal in the plan; 422 naming a field that does not fit the goal's kind."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    data = goal_in.model_dump()
    data["metric_source"] = _clean_source(data["metric_source"])
    if data["metric_source"] is not None and data["metric"] is None and goal_in.kind != "qualitative":
        data["metric"] = METRIC_LABELS[data["metric_source"]["metric"]]
    if data["position"] is None:
        data["position"] = next_position(session, PlanGoal, col(PlanGoal.plan_id) == plan.id)
    assert plan.id is not None
    goal = PlanGoal(**data, plan_id=plan.id, created_at=now, updated_at=now)
    _check_goal(session, goal)
    _apply_goal_status(goal, now)
    session.add(goal)
    session.flush()
    audit(
        session,
        row=goal,
        plan=plan,
        action="create",
        actor=actor,
        at=now,
        before=None,
        after=goal_view(session, goal),
    )
    return goal


def update_goal(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    changes: dict[str, Any],
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> PlanGoal:
    """Apply the given fields if the goal is still at ``expected_version`` (else 412)."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    claim(session, goal, expected_version)
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
    audit(
        session,
        row=goal,
        plan=plan,
        action="update",
        actor=actor,
        at=now,
        before=before,
        after=goal_view(session, goal),
    )
    return goal


def verify_goal(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    status: str | None,
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> PlanGoal:
    """Record that the goal was re-validated with the customer now (and by whom); If-Match is
    optional here, and checked when given."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    claim(session, goal, expected_version, required=False)
    goal.last_verified_at = now
    goal.last_verified_by = actor[:320]
    if status is not None:
        goal.status = status
        _apply_goal_status(goal, now)
    goal.updated_at = now
    session.add(goal)
    session.flush()
    audit(
        session,
        row=goal,
        plan=plan,
        action="verify",
        actor=actor,
        at=now,
        before=before,
        after=goal_view(session, goal),
    )
    return goal


def delete_goal(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> None:
    """Delete the goal with its steps and progress series."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    plan = session.get(SuccessPlan, goal.plan_id)
    assert plan is not None
    before = goal_view(session, goal)
    claim(session, goal, expected_version)
    before["version"] = goal.version
    audit(session, row=goal, plan=plan, action="delete", actor=actor, at=now, before=before, after=None)
    session.delete(goal)
    session.flush()


def goal_progress(session: Session, *, account_id: str, plan_id: int, goal_id: int) -> list[PlanGoalProgress]:
    """The tracked goal's daily values, oldest first."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    return list(
        session.exec(
            select(PlanGoalProgress)
            .where(PlanGoalProgress.goal_id == goal.id)
            .order_by(col(PlanGoalProgress.day))
        ).all()
    )


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
    return id_page(rows, page)


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
