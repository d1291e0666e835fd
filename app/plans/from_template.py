"""Starting a success plan from a shipped template: the plan with the template's goals and steps,
targets scaled to the account's seats and tracked goals' baselines from today's usage."""

from __future__ import annotations

import datetime as dt
import math

from sqlmodel import Session, select

from app.accounts.service import get_account
from app.errors import InvalidInput
from app.models import Account, SuccessPlan, User
from app.plans.goals import create_goal
from app.plans.metrics import metric_values
from app.plans.plans import create_plan
from app.plans.schemas import GoalCreate, PlanCreate, StepCreate
from app.plans.steps import create_step
from app.plans.templates import TEMPLATES, GoalTemplate, PlanTemplate, find_template


def list_templates() -> tuple[PlanTemplate, ...]:
    return TEMPLATES


def create_plan_from_template(
    session: Session,
    *,
    account_id: str,
    template: str,
    title: str | None,
    start_on: dt.date | None,
    today: dt.date,
    actor: str,
    now: dt.datetime,
) -> SuccessPlan:
    """A plan with the template's goals and steps; active unless the account already has an
    active plan (then a draft). Tracked goals start from today's metric value as baseline."""
    found = find_template(template)
    if found is None:
        known = ", ".join(t.key for t in TEMPLATES)
        raise InvalidInput.field("template", f"unknown template; one of {known}")
    account = get_account(session, account_id)
    assert account.id is not None
    start = start_on or today
    has_active = (
        session.exec(
            select(SuccessPlan.id).where(SuccessPlan.account_id == account.id, SuccessPlan.status == "active")
        ).first()
        is not None
    )
    owner = session.get(User, account.owner_id) if account.owner_id else None
    plan = create_plan(
        session,
        account_id=account_id,
        actor=actor,
        now=now,
        template=found.key,
        plan_in=PlanCreate(
            title=title or found.name,
            objective=found.objective,
            status="draft" if has_active else "active",
            owner=owner.email if owner else None,
            start_on=start,
            target_on=start + dt.timedelta(days=found.duration_days),
        ),
    )
    assert plan.id is not None
    for goal_t in found.goals:
        goal = create_goal(
            session,
            account_id=account_id,
            plan_id=plan.id,
            actor=actor,
            now=now,
            goal_in=_goal_in(session, goal_t, account=account, start=start, today=today),
        )
        assert goal.id is not None
        for step_t in goal_t.steps:
            step_owner = step_t.owner
            if step_owner == "csm":
                step_owner = owner.email if owner else None
            create_step(
                session,
                account_id=account_id,
                plan_id=plan.id,
                goal_id=goal.id,
                actor=actor,
                now=now,
                step_in=StepCreate(
                    title=step_t.title,
                    owner=step_owner,
                    due_on=start + dt.timedelta(days=step_t.due_in_days),
                ),
            )
    return plan


def _goal_in(
    session: Session, goal_t: GoalTemplate, *, account: Account, start: dt.date, today: dt.date
) -> GoalCreate:
    """The template's goal for this account: the target scaled to its licensed seats, and a
    tracked goal's baseline (and current value) from today's metric value."""
    assert account.id is not None
    target = goal_t.target
    if goal_t.target_per_seat and account.licensed_seats:
        target = float(max(1, math.ceil(account.licensed_seats * goal_t.target_per_seat)))
    baseline = None
    if goal_t.metric_source is not None:
        values = metric_values(session, source=goal_t.metric_source, account_ids=[account.id], as_of=today)
        baseline = values.get(account.id, 0.0)
        if target is not None and baseline >= target:
            # Already there: aim 20% beyond today (an increase goal, not a decrease one).
            target = float(math.ceil(baseline * 1.2)) or 1.0
    return GoalCreate.model_validate(
        {
            "title": goal_t.title,
            "description": goal_t.description,
            "kind": goal_t.kind,
            "priority": goal_t.priority,
            "metric": goal_t.metric,
            "unit": goal_t.unit,
            "baseline": baseline,
            "target": target,
            "current_value": baseline,
            "metric_source": goal_t.metric_source,
            "success_criterion": goal_t.success_criterion,
            "due_on": start + dt.timedelta(days=goal_t.due_in_days),
        }
    )
