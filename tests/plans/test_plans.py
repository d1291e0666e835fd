"""Success plans service: validation, versions, audit trail, tracking from rollups, templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.errors import Busy, Conflict, InvalidInput, PreconditionFailed, PreconditionRequired
from app.ingest.rollups import UsageRow, add_usage
from app.models import Account, Interaction, PlanAudit, PlanEvent, PlanGoal, PlanGoalProgress, SuccessPlan
from app.pagination import PageParams
from app.plans import from_template
from app.plans import goals as plan_goals
from app.plans import plans as success_plans
from app.plans import records as plan_records
from app.plans import tracking as goal_tracking
from app.plans.schemas import GoalCreate, PlanCreate
from app.usage import features
from tests.builders import make_account, make_user

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TODAY = AS_OF.date()
ACTOR = "tester"


def _plan(session: Session, account_id: str = "acme", **fields: Any) -> SuccessPlan:
    data: dict[str, Any] = {"title": "Onboarding", "status": "active"}
    data.update(fields)
    return success_plans.create_plan(session, account_id=account_id, plan_in=PlanCreate(**data),
                                     actor=ACTOR, now=AS_OF)


def _goal(session: Session, plan: SuccessPlan, *, now: dt.datetime = AS_OF,
          **fields: Any) -> PlanGoal:
    data: dict[str, Any] = {"title": "Weekly users", "kind": "quantitative", "target": 3,
                            "baseline": 0, "metric_source": {"metric": "weekly_active_users"}}
    data.update(fields)
    assert plan.id is not None
    return plan_goals.create_goal(session, account_id="acme", plan_id=plan.id,
                                  goal_in=GoalCreate(**data), actor=ACTOR, now=now)


def _usage(session: Session, account: Account, day: dt.date, users: list[str],
           event: str = "report.viewed") -> None:
    assert account.id is not None
    at = dt.datetime.combine(day, dt.time(3), tzinfo=dt.UTC)
    add_usage(session, [UsageRow(account.id, day, event, u, at) for u in users], at)


@pytest.fixture
def account(session: Session) -> Account:
    return make_account(session)


def test_create_plan_writes_an_audit_entry_with_the_whole_plan(
    session: Session, account: Account
) -> None:
    plan = _plan(session)

    entries = session.exec(select(PlanAudit)).all()
    assert [(e.entity_type, e.action, e.actor, e.before) for e in entries] == [
        ("plan", "create", ACTOR, None)
    ]
    assert entries[0].after is not None and entries[0].after["title"] == "Onboarding"
    assert plan.version == 1
    assert plan_records.etag(plan) == f'"plan-{plan.id}-v1"'


def test_a_second_active_plan_is_a_conflict(session: Session, account: Account) -> None:
    _plan(session)
    draft = _plan(session, status="draft")

    with pytest.raises(Conflict):
        _plan(session)
    with pytest.raises(Conflict):
        success_plans.update_plan(session, account_id="acme", plan_id=draft.id or 0,
                                  changes={"status": "active"}, expected_version=1, actor=ACTOR, now=AS_OF)


def test_update_records_only_the_changed_fields_before_and_after(
    session: Session, account: Account
) -> None:
    make_user(session)
    plan = _plan(session)

    success_plans.update_plan(session, account_id="acme", plan_id=plan.id or 0,
                              changes={"title": "Adoption", "owner": "csm@example.com"},
                              expected_version=1, actor="someone", now=AS_OF)

    entry = session.exec(select(PlanAudit).where(PlanAudit.action == "update")).one()
    assert entry.before == {"owner": None, "title": "Onboarding", "version": 1}
    assert entry.after == {"owner": "csm@example.com", "title": "Adoption", "version": 2}
    assert entry.actor == "someone"


def test_a_stale_version_is_refused_with_the_current_resource(
    session: Session, account: Account
) -> None:
    plan = _plan(session)
    success_plans.update_plan(session, account_id="acme", plan_id=plan.id or 0, changes={"title": "B"},
                              expected_version=1, actor=ACTOR, now=AS_OF)

    with pytest.raises(PreconditionFailed) as caught:
        success_plans.update_plan(session, account_id="acme", plan_id=plan.id or 0,
                                  changes={"title": "C"}, expected_version=1, actor=ACTOR, now=AS_OF)

    assert caught.value.extra["current"]["title"] == "B"
    assert caught.value.extra["etag"] == f'"plan-{plan.id}-v2"'
    assert caught.value.headers["ETag"] == caught.value.extra["etag"]


def test_a_write_without_a_version_needs_a_precondition(
    session: Session, account: Account
) -> None:
    plan = _plan(session)

    with pytest.raises(PreconditionRequired) as caught:
        success_plans.delete_plan(session, account_id="acme", plan_id=plan.id or 0, expected_version=None,
                                  actor=ACTOR, now=AS_OF)

    assert caught.value.status == 428


def test_a_concurrent_commit_between_read_and_write_is_never_overwritten(
    engine: Engine,
) -> None:
    with Session(engine) as s:
        make_account(s)
        plan_id = _plan(s).id or 0
        s.commit()
    with Session(engine, expire_on_commit=False) as first, \
            Session(engine, expire_on_commit=False) as second:
        success_plans.get_plan(first, account_id="acme", plan_id=plan_id)
        success_plans.get_plan(second, account_id="acme", plan_id=plan_id)
        success_plans.update_plan(first, account_id="acme", plan_id=plan_id, changes={"title": "first"},
                                  expected_version=1, actor=ACTOR, now=AS_OF)
        first.commit()
        # PostgreSQL re-reads the row and finds version 2 (412); SQLite refuses a write from a
        # snapshot older than the last commit (503, retry): either way "first" stays.
        with pytest.raises((PreconditionFailed, Busy)):
            success_plans.update_plan(second, account_id="acme", plan_id=plan_id,
                                      changes={"title": "second"}, expected_version=1, actor=ACTOR,
                                      now=AS_OF)
        second.rollback()
    with Session(engine) as s:
        stored = s.get(SuccessPlan, plan_id)
        assert stored is not None and (stored.title, stored.version) == ("first", 2)


@pytest.mark.parametrize(
    ("goal", "fields"),
    [
        ({"kind": "qualitative", "success_criterion": "happy", "target": 5}, {"target"}),
        ({"kind": "qualitative", "unit": "users", "baseline": 1},
         {"unit", "baseline", "success_criterion"}),
        ({"kind": "quantitative", "metric": "Users"}, {"target"}),
        ({"kind": "quantitative", "target": 5}, {"metric"}),
        ({"kind": "quantitative", "target": 5,
          "metric_source": {"metric": "feature_events_30d"}}, {"metric_source.feature"}),
        ({"kind": "quantitative", "target": 5,
          "metric_source": {"metric": "feature_events_30d", "feature": "nope"}},
         {"metric_source.feature"}),
        ({"kind": "quantitative", "target": 5,
          "metric_source": {"metric": "weekly_active_users", "feature": "reports"}},
         {"metric_source.feature"}),
    ],
)
def test_goal_validation_names_the_fields(
    session: Session, account: Account, goal: dict[str, Any], fields: set[str]
) -> None:
    plan = _plan(session)

    with pytest.raises(InvalidInput) as caught:
        plan_goals.create_goal(session, account_id="acme", plan_id=plan.id or 0,
                               goal_in=GoalCreate(title="G", **goal), actor=ACTOR, now=AS_OF)

    assert {e.field for e in caught.value.errors} == fields


def test_switching_a_goal_to_qualitative_must_clear_its_numbers(
    session: Session, account: Account
) -> None:
    goal = _goal(session, _plan(session))

    with pytest.raises(InvalidInput) as caught:
        plan_goals.update_goal(session, account_id="acme", plan_id=goal.plan_id, goal_id=goal.id or 0,
                               changes={"kind": "qualitative", "success_criterion": "x"},
                               expected_version=1, actor=ACTOR, now=AS_OF)

    assert {e.field for e in caught.value.errors} >= {"target", "metric_source", "metric"}


def test_verify_stamps_who_and_when_and_is_audited(session: Session, account: Account) -> None:
    goal = _goal(session, _plan(session))
    later = AS_OF + dt.timedelta(hours=2)

    plan_goals.verify_goal(session, account_id="acme", plan_id=goal.plan_id, goal_id=goal.id or 0,
                           status="on_track", expected_version=None, actor="csm@example.com", now=later)

    assert (goal.last_verified_at, goal.last_verified_by, goal.status, goal.version) == (
        later, "csm@example.com", "on_track", 2
    )
    entry = session.exec(select(PlanAudit).where(PlanAudit.action == "verify")).one()
    assert entry.before is not None and entry.before["last_verified_at"] is None
    assert entry.after is not None and entry.after["last_verified_at"] == later.isoformat()


def test_tracking_marks_a_goal_achieved_from_the_rollups(
    session: Session, account: Account
) -> None:
    goal = _goal(session, _plan(session))
    _usage(session, account, TODAY - dt.timedelta(days=2), ["u1", "u2"])
    _usage(session, account, TODAY - dt.timedelta(days=1), ["u2", "u3"])
    _usage(session, account, TODAY - dt.timedelta(days=9), ["u4"])  # outside the week

    events = goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF)

    assert [(e.kind, e.goal_id) for e in events] == [("goal_achieved", goal.id)]
    assert (goal.current_value, goal.status, goal.achieved_at) == (3.0, "achieved", AS_OF)
    assert session.exec(select(PlanEvent)).one().payload["account_id"] == "acme"
    note = session.exec(select(Interaction)).one()
    assert (note.type, note.author) == ("note", "system")
    assert note.title == "Goal achieved: Weekly users"
    entry = session.exec(select(PlanAudit).where(PlanAudit.action == "auto")).one()
    assert (entry.actor, entry.before, entry.after) == (
        "system",
        {"achieved_at": None, "current_value": None, "status": "not_started", "version": 1},
        {"achieved_at": AS_OF.isoformat(), "current_value": 3.0, "status": "achieved",
         "version": 2},
    )
    points = session.exec(select(PlanGoalProgress)).all()
    assert [(p.day, p.value) for p in points] == [(TODAY, 3.0)]
    assert goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF) == []  # achieved goals stay put


def test_tracking_below_target_records_progress_without_events(
    session: Session, account: Account
) -> None:
    goal = _goal(session, _plan(session), target=10)
    _usage(session, account, TODAY - dt.timedelta(days=1), ["u1"])

    assert goal_tracking.track_goals(session, as_of=TODAY - dt.timedelta(days=1), now=AS_OF) == []
    _usage(session, account, TODAY, ["u2"])
    assert goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF) == []
    assert goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF) == []

    assert (goal.current_value, goal.status) == (2.0, "not_started")
    points = session.exec(select(PlanGoalProgress).order_by(col(PlanGoalProgress.day))).all()
    assert [(p.day, p.value) for p in points] == [(TODAY - dt.timedelta(days=1), 1.0),
                                                  (TODAY, 2.0)]
    assert session.exec(select(Interaction)).all() == []


def test_feature_metric_counts_only_the_features_events(
    session: Session, account: Account
) -> None:
    features.create_feature(session, feature_in=features.FeatureIn(
        key="reports", name="Reports", patterns=["report.*"]), now=AS_OF)
    goal = _goal(session, _plan(session), target=3,
                 metric_source={"metric": "feature_events_30d", "feature": "reports"})
    _usage(session, account, TODAY, ["u1", "u2"], event="report.viewed")
    _usage(session, account, TODAY, ["u1", "u2", "u3"], event="login")

    events = goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF)

    assert (goal.current_value, goal.status, events) == (2.0, "not_started", [])
    assert goal.metric == "Feature events in the last 30 days"


def test_past_due_goals_become_at_risk_once(session: Session, account: Account) -> None:
    plan = _plan(session)
    late = _goal(session, plan, kind="qualitative", target=None, metric_source=None,
                 baseline=None, success_criterion="Live", due_on=TODAY - dt.timedelta(days=1))
    _goal(session, plan, kind="qualitative", target=None, metric_source=None, baseline=None,
          success_criterion="Later", due_on=TODAY)
    _goal(session, plan, kind="qualitative", target=None, metric_source=None, baseline=None,
          success_criterion="Dropped", due_on=TODAY - dt.timedelta(days=5), status="dropped")

    events = goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF)

    assert [(e.kind, e.goal_id, e.payload["reason"]) for e in events] == [
        ("goal_at_risk", late.id, "past_due")
    ]
    assert late.status == "at_risk"
    assert goal_tracking.track_goals(session, as_of=TODAY, now=AS_OF) == []


def test_unverified_goals_are_open_goals_not_verified_recently(
    session: Session, account: Account
) -> None:
    plan = _plan(session)
    old = AS_OF - dt.timedelta(days=120)
    _goal(session, plan, now=old, title="never verified")
    stale = _goal(session, plan, now=old, title="verified long ago")
    plan_goals.verify_goal(session, account_id="acme", plan_id=plan.id or 0, goal_id=stale.id or 0,
                           status=None, expected_version=None, actor=ACTOR,
                           now=AS_OF - dt.timedelta(days=95))
    fresh = _goal(session, plan, now=old, title="verified lately")
    plan_goals.verify_goal(session, account_id="acme", plan_id=plan.id or 0, goal_id=fresh.id or 0,
                           status=None, expected_version=None, actor=ACTOR,
                           now=AS_OF - dt.timedelta(days=10))
    _goal(session, plan, now=old, title="achieved", status="achieved")
    _goal(session, plan, now=AS_OF - dt.timedelta(days=5), title="new")

    found = plan_goals.unverified_goals(session, as_of=AS_OF)

    assert [g.title for g, _, _ in found] == ["never verified", "verified long ago"]
    assert [g.title for g, _, _ in plan_goals.unverified_goals(session, older_than_days=7,
                                                               as_of=AS_OF)] == [
        "never verified", "verified long ago", "verified lately"
    ]


def test_a_template_starts_a_plan_with_goals_steps_and_baselines(
    session: Session, account: Account
) -> None:
    make_user(session)
    make_account(session, id="beta", name="Beta", licensed_seats=20, owner="csm@example.com")
    beta = session.exec(select(Account).where(Account.external_id == "beta")).one()
    _usage(session, beta, TODAY, ["u1", "u2"])

    plan = from_template.create_plan_from_template(
        session, account_id="beta", template="smb_onboarding", title=None, start_on=None,
        today=TODAY, actor=ACTOR, now=AS_OF,
    )

    detail = success_plans.plan_detail(session, plan)
    assert (detail["title"], detail["status"], detail["owner"]) == (
        "SMB onboarding (3 goals)", "active", "csm@example.com"
    )
    assert len(detail["goals"]) == 3
    wau = detail["goals"][0]
    assert (wau["baseline"], wau["current_value"], wau["target"]) == (2.0, 2.0, 12.0)
    assert wau["due_on"] == (TODAY + dt.timedelta(days=60)).isoformat()
    assert [s["owner"] for s in wau["steps"]] == ["csm@example.com", "customer",
                                                  "csm@example.com"]
    assert detail["goals"][2]["kind"] == "qualitative"
    second = from_template.create_plan_from_template(
        session, account_id="beta", template="enterprise_value_realisation", title="Next year",
        start_on=None, today=TODAY, actor=ACTOR, now=AS_OF,
    )
    assert (second.title, second.status) == ("Next year", "draft")
    with pytest.raises(InvalidInput) as caught:
        from_template.create_plan_from_template(session, account_id="beta", template="nope", title=None,
                                                start_on=None, today=TODAY, actor=ACTOR, now=AS_OF)
    assert caught.value.errors[0].field == "template"


def test_deleting_a_plan_keeps_its_history(session: Session, account: Account) -> None:
    plan = _plan(session)
    _goal(session, plan)
    plan_id = plan.id or 0

    success_plans.delete_plan(session, account_id="acme", plan_id=plan_id, expected_version=1,
                              actor=ACTOR, now=AS_OF)

    assert session.exec(select(PlanGoal)).all() == []
    rows, _ = success_plans.plan_history(session, account_id="acme", plan_id=plan_id,
                                         page=PageParams(limit=50, cursor=None))
    assert [(r.entity_type, r.action) for r in rows] == [
        ("plan", "create"), ("goal", "create"), ("plan", "delete")
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ('"plan-7-v3"', 3),
        ('W/"plan-7-v3"', 3),
        ('"goal-7-v3"', 0),
        ('"plan-8-v3"', 0),
        ('"plan-8-v1", "plan-7-v4"', 4),
        ("*", 0),
        ("garbage", 0),
    ],
)
def test_if_match_names_a_version_of_this_resource(header: str | None, expected: int | None) -> None:
    assert plan_records.expected_version(header, kind="plan", id=7) == expected


@pytest.mark.slow
def test_demo_plans_come_in_varied_states(session: Session) -> None:
    from zoneinfo import ZoneInfo

    from app.demo import service as demo

    tz = ZoneInfo("Asia/Tokyo")
    # The demo loads its plans (through plans_demo.load_demo_plans) after usage and scores.
    created = demo.load_demo(session, seed=7, accounts=20, now=AS_OF, tz=tz).plans

    active = session.exec(select(Account).where(Account.status == "active")).all()
    assert created >= len(active) * 0.6
    goals = session.exec(select(PlanGoal)).all()
    statuses = {g.status for g in goals}
    assert {"achieved", "at_risk"} <= statuses
    assert plan_goals.unverified_goals(session, as_of=AS_OF)
    assert any(g.last_verified_at and g.last_verified_at > AS_OF - dt.timedelta(days=31)
               for g in goals)
    assert session.exec(select(PlanGoalProgress)).first() is not None
