"""Steps (milestones) of a plan's goal: listing, creating, changing (done or not) and deleting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from app.errors import InvalidInput, NotFound
from app.models import PlanGoal, PlanStep, SuccessPlan
from app.plans.goals import get_goal, next_position
from app.plans.records import audit, claim, step_view
from app.plans.schemas import StepCreate


def list_steps(session: Session, *, account_id: str, plan_id: int, goal_id: int) -> list[PlanStep]:
    """The goal's steps in order."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    return list(
        session.exec(
            select(PlanStep)
            .where(PlanStep.goal_id == goal.id)
            .order_by(col(PlanStep.position), col(PlanStep.id))
        ).all()
    )


def get_step(session: Session, *, account_id: str, plan_id: int, goal_id: int, step_id: int) -> PlanStep:
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
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    step_in: StepCreate,
    actor: str,
    now: dt.datetime,
) -> PlanStep:
    """A new step (milestone) on the goal."""
    goal = get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    assert goal.id is not None
    data = step_in.model_dump()
    if data["position"] is None:
        data["position"] = next_position(session, PlanStep, col(PlanStep.goal_id) == goal.id)
    step = PlanStep(
        **data, goal_id=goal.id, done_at=now if step_in.done else None, created_at=now, updated_at=now
    )
    session.add(step)
    session.flush()
    audit(
        session,
        row=step,
        plan=_plan_of_goal(session, goal.id),
        action="create",
        actor=actor,
        at=now,
        before=None,
        after=step_view(session, step),
    )
    return step


def update_step(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    step_id: int,
    changes: dict[str, Any],
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> PlanStep:
    """Apply the given fields if the step is still at ``expected_version`` (else 412)."""
    step = get_step(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id, step_id=step_id)
    before = step_view(session, step)
    claim(session, step, expected_version)
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
    audit(
        session,
        row=step,
        plan=_plan_of_goal(session, step.goal_id),
        action="update",
        actor=actor,
        at=now,
        before=before,
        after=step_view(session, step),
    )
    return step


def delete_step(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    goal_id: int,
    step_id: int,
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> None:
    """Delete the step."""
    step = get_step(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id, step_id=step_id)
    before = step_view(session, step)
    claim(session, step, expected_version)
    before["version"] = step.version
    audit(
        session,
        row=step,
        plan=_plan_of_goal(session, step.goal_id),
        action="delete",
        actor=actor,
        at=now,
        before=before,
        after=None,
    )
    session.delete(step)
    session.flush()
