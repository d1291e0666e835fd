"""Success plans of an account: listing, reading, creating, changing and deleting them (at most
one active plan per account), a plan with its goals and steps, and its change history."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.service import get_account
from app.auth.users import require_user_by_email
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.models import Account, Contact, PlanAudit, PlanGoal, PlanStep, SuccessPlan
from app.pagination import PageParams, decode_cursor
from app.plans.records import audit, claim, goal_view, id_page, plan_view, step_view
from app.plans.schemas import PlanCreate

#: Goals still to be reached: the ones tracking, the past-due rule and the unverified list see.
OPEN_GOAL_STATUSES = ("not_started", "on_track", "at_risk")
#: Plans whose goals are worked on (completed and archived plans are history).
LIVE_PLAN_STATUSES = ("draft", "active")


def _account_row(session: Session, account_id: str) -> Account:
    return get_account(session, account_id)


def list_plans(session: Session, *, account_id: str) -> list[SuccessPlan]:
    """The account's plans, newest first."""
    account = _account_row(session, account_id)
    return list(
        session.exec(
            select(SuccessPlan)
            .where(SuccessPlan.account_id == account.id)
            .order_by(col(SuccessPlan.id).desc())
        ).all()
    )


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
                SuccessPlan.account_id == plan.account_id,
                SuccessPlan.status == "active",
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
    session: Session,
    *,
    account_id: str,
    plan_in: PlanCreate,
    actor: str,
    now: dt.datetime,
    template: str | None = None,
) -> SuccessPlan:
    """A new plan on the account; 409 if it would be a second active one."""
    account = _account_row(session, account_id)
    assert account.id is not None
    owner = require_user_by_email(session, plan_in.owner).id if plan_in.owner else None
    plan = SuccessPlan(
        account_id=account.id,
        title=plan_in.title,
        objective=plan_in.objective,
        status=plan_in.status,
        owner_id=owner,
        customer_owner_id=plan_in.customer_owner_id,
        start_on=plan_in.start_on,
        target_on=plan_in.target_on,
        template=template,
        created_at=now,
        updated_at=now,
    )
    _check_plan(session, plan)
    session.add(plan)
    _flush_plan(session)
    audit(
        session,
        row=plan,
        plan=plan,
        action="create",
        actor=actor,
        at=now,
        before=None,
        after=plan_view(session, plan),
    )
    return plan


def update_plan(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    changes: dict[str, Any],
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> SuccessPlan:
    """Apply the given fields if the plan is still at ``expected_version`` (else 412)."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    before = plan_view(session, plan)
    claim(session, plan, expected_version)
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
    audit(
        session,
        row=plan,
        plan=plan,
        action="update",
        actor=actor,
        at=now,
        before=before,
        after=plan_view(session, plan),
    )
    return plan


def delete_plan(
    session: Session,
    *,
    account_id: str,
    plan_id: int,
    expected_version: int | None,
    actor: str,
    now: dt.datetime,
) -> None:
    """Delete the plan with its goals and steps; its history stays readable."""
    plan = get_plan(session, account_id=account_id, plan_id=plan_id)
    before = plan_view(session, plan)
    claim(session, plan, expected_version)
    before["version"] = plan.version
    audit(session, row=plan, plan=plan, action="delete", actor=actor, at=now, before=before, after=None)
    session.delete(plan)
    session.flush()


def plan_detail(session: Session, plan: SuccessPlan) -> dict[str, Any]:
    """The plan with its goals, each with its steps, in order."""
    out = plan_view(session, plan)
    goals = goals_of(session, plan)
    steps: dict[int, list[PlanStep]] = defaultdict(list)
    if goals:
        for step in session.exec(
            select(PlanStep)
            .where(col(PlanStep.goal_id).in_([g.id for g in goals]))
            .order_by(col(PlanStep.position), col(PlanStep.id))
        ).all():
            steps[step.goal_id].append(step)
    out["goals"] = [
        {**goal_view(session, g), "steps": [step_view(session, s) for s in steps[g.id or 0]]} for g in goals
    ]
    return out


def plan_history(
    session: Session, *, account_id: str, plan_id: int, page: PageParams
) -> tuple[list[PlanAudit], str | None]:
    """The plan's changes (its goals' and steps' included), oldest first; also after deletion."""
    account = _account_row(session, account_id)
    query = select(PlanAudit).where(PlanAudit.account_id == account.id, PlanAudit.plan_id == plan_id)
    if page.cursor:
        query = query.where(col(PlanAudit.id) > decode_cursor(page.cursor, sort="id").last_id)
    rows = list(session.exec(query.order_by(col(PlanAudit.id)).limit(page.limit + 1)).all())
    if not rows and not page.cursor:
        get_plan(session, account_id=account_id, plan_id=plan_id)
    return id_page(rows, page)


def goals_of(session: Session, plan: SuccessPlan) -> list[PlanGoal]:
    return list(
        session.exec(
            select(PlanGoal)
            .where(PlanGoal.plan_id == plan.id)
            .order_by(col(PlanGoal.position), col(PlanGoal.id))
        ).all()
    )
