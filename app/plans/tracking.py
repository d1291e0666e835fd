"""The daily goal automation: tracked goals' values from the usage rollups (with a progress point
a day), reached goals marked achieved (a timeline note and an event), past-due open goals marked
at risk (an event); and the events raised, for the web app and webhooks."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from app.errors import PreconditionFailed
from app.models import Account, Interaction, PlanEvent, PlanGoal, PlanGoalProgress, SuccessPlan
from app.plans.metrics import metric_values
from app.plans.plans import LIVE_PLAN_STATUSES, OPEN_GOAL_STATUSES
from app.plans.records import SYSTEM, audit, claim, goal_view
from app.scoring import plans as pure


def _reached(goal: PlanGoal, value: float) -> bool:
    """Whether the value meets the target; a target below the baseline is reached from above
    (fewer support tickets: baseline 40, target 10 → reached at 10 or less)."""
    return pure.reached(baseline=goal.baseline, target=goal.target, value=value)


def _event(
    session: Session,
    *,
    kind: str,
    goal: PlanGoal,
    plan: SuccessPlan,
    account: Account,
    now: dt.datetime,
    **payload: Any,
) -> PlanEvent:
    event = PlanEvent(
        account_id=plan.account_id,
        goal_id=goal.id,
        kind=kind,
        at=now,
        payload={
            "account_id": account.external_id,
            "plan_id": plan.id,
            "goal_id": goal.id,
            "goal_title": goal.title,
            **payload,
        },
    )
    session.add(event)
    return event


def _timeline_note(session: Session, *, goal: PlanGoal, plan: SuccessPlan, now: dt.datetime) -> None:
    value = f"{goal.current_value:g}" if goal.current_value is not None else "-"
    target = f"{goal.target:g}" if goal.target is not None else "-"
    session.add(
        Interaction(
            account_id=plan.account_id,
            type="note",
            occurred_at=now,
            author=SYSTEM,
            title=f"Goal achieved: {goal.title}"[:500],
            body=(
                f"Success plan “{plan.title}”: {goal.metric or 'the metric'} reached {value} "
                f"{goal.unit or ''} (target {target})."
            ).replace("  ", " "),
            data={},
            created_at=now,
        )
    )


def track_goals(session: Session, *, as_of: dt.date, now: dt.datetime) -> list[PlanEvent]:
    """The daily automation: update tracked goals' values from the rollups (with a progress
    point for ``as_of``), mark reached goals achieved (timeline note + event) and past-due open
    goals at risk (event); returns the events raised."""
    rows = session.exec(
        select(PlanGoal, SuccessPlan, Account)
        .join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .join(Account, col(Account.id) == col(SuccessPlan.account_id))
        .where(
            Account.status == "active",
            col(SuccessPlan.status).in_(LIVE_PLAN_STATUSES),
            col(PlanGoal.status).in_(OPEN_GOAL_STATUSES),
        )
        .order_by(col(PlanGoal.id))
    ).all()
    by_source: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for goal, plan, _ in rows:
        if goal.kind == "quantitative" and goal.metric_source:
            key = (goal.metric_source["metric"], goal.metric_source.get("feature"))
            by_source[key].append(plan.account_id)
    values = {
        key: metric_values(
            session, source={"metric": key[0], "feature": key[1]}, account_ids=sorted(set(ids)), as_of=as_of
        )
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
        if (
            changes.get("status", goal.status) in ("not_started", "on_track")
            and goal.due_on is not None
            and goal.due_on < as_of
        ):
            changes["status"] = "at_risk"
            raised.append(("goal_at_risk", {"reason": "past_due", "due_on": goal.due_on.isoformat()}))
        if not changes:
            continue
        before = goal_view(session, goal)
        try:
            claim(session, goal, goal.version)
        except PreconditionFailed:
            continue  # a concurrent edit won; the goal is looked at again on the next run
        for field, new_value in changes.items():
            setattr(goal, field, new_value)
        goal.updated_at = now
        session.add(goal)
        session.flush()
        audit(
            session,
            row=goal,
            plan=plan,
            action="auto",
            actor=SYSTEM,
            at=now,
            before=before,
            after=goal_view(session, goal),
        )
        for kind, payload in raised:
            events.append(
                _event(session, kind=kind, goal=goal, plan=plan, account=account, now=now, **payload)
            )
            if kind == "goal_achieved":
                _timeline_note(session, goal=goal, plan=plan, now=now)
    session.flush()
    return events


def _record_progress(session: Session, goal: PlanGoal, day: dt.date, value: float, now: dt.datetime) -> None:
    assert goal.id is not None
    point = session.get(PlanGoalProgress, (goal.id, day))
    if point is None:
        session.add(PlanGoalProgress(goal_id=goal.id, day=day, value=value, recorded_at=now))
    else:
        point.value, point.recorded_at = value, now
        session.add(point)


def recent_events(session: Session, *, since: dt.datetime) -> list[PlanEvent]:
    """Events raised since a time, oldest first (for the web app and webhooks)."""
    return list(
        session.exec(select(PlanEvent).where(col(PlanEvent.at) >= since).order_by(col(PlanEvent.id))).all()
    )
