"""Demo success plans: most active accounts get their segment's template plan, in varied states.

Plans start at random points of the last ten months; some goals were verified lately, some not
for more than 90 days (or never); some steps are done, some qualitative goals achieved or judged
at risk by the CSM. Tracked goals get a fortnightly progress series from the demo usage, and a
final automation run marks reached goals achieved and past-due ones at risk, as the daily job
would have.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.models import Account, PlanGoal, PlanGoalProgress, PlanStep, SuccessPlan, User
from app.plans import from_template
from app.plans import goals as plan_goals
from app.plans import metrics as plan_metrics
from app.plans import records as plan_records
from app.plans import steps as plan_steps
from app.plans import tracking as goal_tracking
from app.plans.templates import template_for_segment

#: Share of active accounts that get a plan.
PLAN_SHARE = 0.85
PROGRESS_EVERY_DAYS = 14


def load_demo_plans(
    session: Session, *, rng: random.Random, now: dt.datetime, tz: ZoneInfo
) -> int:
    """Create the demo plans (after accounts and usage are loaded); returns how many."""
    today = now.astimezone(tz).date()
    accounts = session.exec(
        select(Account).where(Account.status == "active").order_by(col(Account.id))
    ).all()
    owners = {u.id: u.email for u in session.exec(select(User)).all()}
    created = 0
    for account in accounts:
        if rng.random() > PLAN_SHARE:
            continue
        actor = owners.get(account.owner_id, plan_records.SYSTEM) if account.owner_id else plan_records.SYSTEM
        start = today - dt.timedelta(days=rng.randint(20, 300))
        if account.contract_start_on and account.contract_start_on > start:
            start = min(account.contract_start_on, today - dt.timedelta(days=7))
        started_at = _at(start, tz, hour=10)
        plan = from_template.create_plan_from_template(
            session, account_id=account.external_id,
            template=template_for_segment(account.segment).key, title=None, start_on=start,
            today=start, actor=actor, now=started_at,
        )
        _vary(session, rng, plan, actor=actor, start=start, today=today, tz=tz)
        created += 1
    _progress_series(session, today=today, now=now)
    goal_tracking.track_goals(session, as_of=today, now=now)
    return created


def _at(day: dt.date, tz: ZoneInfo, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)


def _vary(
    session: Session, rng: random.Random, plan: SuccessPlan, *, actor: str, start: dt.date,
    today: dt.date, tz: ZoneInfo,
) -> None:
    """Give the plan's goals and steps a realistic history, each change at a past time."""
    assert plan.id is not None
    account_id = plan_account(session, plan)
    age = (today - start).days
    for goal in plan_goals.list_goals(session, account_id=account_id, plan_id=plan.id):
        assert goal.id is not None
        for step in plan_steps.list_steps(session, account_id=account_id, plan_id=plan.id,
                                          goal_id=goal.id):
            _maybe_done(session, rng, step, account_id=account_id, plan_id=plan.id,
                        actor=actor, today=today, tz=tz)
        if goal.due_on and goal.due_on < today and rng.random() < 0.5:
            # Re-planned in a meeting: the customer's business moved, so did the date.
            plan_goals.update_goal(
                session, account_id=account_id, plan_id=plan.id, goal_id=goal.id,
                changes={"due_on": today + dt.timedelta(days=rng.randint(14, 90))},
                expected_version=goal.version, actor=actor,
                now=_at(today - dt.timedelta(days=rng.randint(1, 20)), tz, hour=13),
            )
        roll = rng.random()
        if goal.kind == "qualitative" and age > 60 and roll < 0.25:
            when = _at(start + dt.timedelta(days=rng.randint(30, age - 1)), tz, hour=15)
            plan_goals.update_goal(session, account_id=account_id, plan_id=plan.id, goal_id=goal.id,
                                   changes={"status": "achieved"}, expected_version=goal.version,
                                   actor=actor, now=when)
            continue
        if roll < 0.4:
            # Verified in a recent meeting; often the CSM's judgement is recorded with it.
            days_ago = rng.randint(1, min(30, age))
            status = rng.choice([None, "on_track", "on_track", "at_risk"])
            plan_goals.verify_goal(session, account_id=account_id, plan_id=plan.id, goal_id=goal.id,
                                   status=status, expected_version=None, actor=actor,
                                   now=_at(today - dt.timedelta(days=days_ago), tz, hour=14))
        elif roll < 0.7 and age > 100:
            # Last verified more than 90 days ago: an unverified-goal signal.
            days_ago = rng.randint(95, age)
            plan_goals.verify_goal(session, account_id=account_id, plan_id=plan.id, goal_id=goal.id,
                                   status="on_track", expected_version=None, actor=actor,
                                   now=_at(today - dt.timedelta(days=days_ago), tz, hour=11))
        # Otherwise never verified since the plan started.


def plan_account(session: Session, plan: SuccessPlan) -> str:
    account = session.get(Account, plan.account_id)
    assert account is not None
    return account.external_id


def _maybe_done(
    session: Session, rng: random.Random, step: PlanStep, *, account_id: str, plan_id: int,
    actor: str, today: dt.date, tz: ZoneInfo,
) -> None:
    if step.due_on is None or step.due_on >= today or rng.random() > 0.75:
        return
    assert step.id is not None
    slip = rng.randint(-3, 7)
    done_on = min(today - dt.timedelta(days=1), step.due_on + dt.timedelta(days=slip))
    plan_steps.update_step(session, account_id=account_id, plan_id=plan_id, goal_id=step.goal_id,
                           step_id=step.id, changes={"done": True}, expected_version=step.version,
                           actor=actor, now=_at(done_on, tz, hour=16))


def _progress_series(session: Session, *, today: dt.date, now: dt.datetime) -> None:
    """Fortnightly points of each tracked goal's metric from its plan's start until today."""
    rows = session.exec(
        select(PlanGoal, SuccessPlan)
        .join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .where(col(PlanGoal.metric_source).is_not(None))
    ).all()
    goals = [(g, p) for g, p in rows if g.metric_source]
    if not goals:
        return
    first = min(p.start_on or today for _, p in goals)
    day = today - dt.timedelta(days=PROGRESS_EVERY_DAYS)
    while day >= first:
        for (metric, feature), members in _by_source(goals).items():
            values = plan_metrics.metric_values(
                session, source={"metric": metric, "feature": feature},
                account_ids=sorted({p.account_id for _, p in members}), as_of=day,
            )
            for goal, plan in members:
                if plan.start_on and plan.start_on <= day and goal.id is not None:
                    session.add(PlanGoalProgress(goal_id=goal.id, day=day,
                                                 value=values[plan.account_id], recorded_at=now))
        day -= dt.timedelta(days=PROGRESS_EVERY_DAYS)
    session.flush()


def _by_source(
    goals: list[tuple[PlanGoal, SuccessPlan]],
) -> dict[tuple[str, str | None], list[tuple[PlanGoal, SuccessPlan]]]:
    out: dict[tuple[str, str | None], list[tuple[PlanGoal, SuccessPlan]]] = {}
    for goal, plan in goals:
        assert goal.metric_source is not None
        key = (goal.metric_source["metric"], goal.metric_source.get("feature"))
        out.setdefault(key, []).append((goal, plan))
    return out
