"""Stages, signals and the weekly list against a real database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.errors import Conflict, InvalidInput
from app.lifecycle import rules, stages
from app.models import AccountSignal, AccountStage, Interaction, PriorityItem, StageChange
from app.priorities import service as priorities
from tests.builders import AS_OF, make_account, make_contact, make_interaction, make_user

TZ = ZoneInfo("Asia/Tokyo")
MONDAY = dt.date(2026, 11, 23)
WEEK = "2026-W48"
NOW = AS_OF  # Monday 18:00 in Tokyo


def _stage_of(session: Session, account_id: int) -> str:
    row = session.get(AccountStage, account_id)
    assert row is not None
    return row.stage


def test_stages_are_recorded_with_transitions(session: Session) -> None:
    account = make_account(session, contract_start_on=dt.date(2025, 1, 1))
    make_contact(session, email="star@acme.example.com", is_star_user=True)
    make_contact(session, email="boss@acme.example.com", is_champion=True)
    stages.rate_champion(session, account_id="acme", rating=5, comment=None, user=None, author="t", now=NOW)
    make_interaction(session, account=account, type="webinar", occurred_at=NOW - dt.timedelta(days=10))
    assert account.id is not None

    first = stages.run_daily(session, now=NOW, tz=TZ)
    again = stages.run_daily(session, now=NOW, tz=TZ)

    assert _stage_of(session, account.id) == "success"
    assert (first.stage_changes, again.stage_changes) == (1, 0)
    stored = session.get(AccountStage, account.id)
    assert stored is not None and stored.detail["met"] == 3

    stages.rate_champion(
        session,
        account_id="acme",
        rating=2,
        comment="went quiet",
        user=None,
        author="t",
        now=NOW + dt.timedelta(hours=1),
    )
    later = stages.run_daily(session, now=NOW + dt.timedelta(days=1), tz=TZ)

    assert later.stage_changes == 1
    assert _stage_of(session, account.id) == "growth"
    history = session.exec(select(StageChange).where(StageChange.account_id == account.id)).all()
    assert [(c.previous, c.stage) for c in sorted(history, key=lambda c: c.id or 0)] == [
        (None, "success"),
        ("success", "growth"),
    ]
    view = stages.account_stage(session, account_id="acme")
    assert view.stage is not None and view.stage.since_on == dt.date(2026, 11, 24)


def test_unattended_webinars_do_not_count_as_community(session: Session) -> None:
    account = make_account(session)
    make_interaction(
        session, account=account, type="webinar", occurred_at=NOW - dt.timedelta(days=3), attended=False
    )
    assessed = stages.assess(session, at=NOW, tz=TZ)

    assert assessed[account.id or 0].facts.attendances_90d == 0


def test_signal_episodes_fire_stay_and_clear(session: Session) -> None:
    account = make_account(
        session, renewal_on=MONDAY + dt.timedelta(days=120), contract_start_on=dt.date(2025, 1, 1)
    )
    make_interaction(session, account=account, type="meeting", occurred_at=NOW - dt.timedelta(days=5))

    stages.run_daily(session, now=NOW, tz=TZ)
    stages.run_daily(session, now=NOW + dt.timedelta(days=1), tz=TZ)
    open_ = session.exec(select(AccountSignal).where(AccountSignal.account_id == account.id)).all()

    assert [(s.kind, s.first_on, s.last_on) for s in open_] == [
        ("renewal_window", MONDAY, MONDAY + dt.timedelta(days=1))
    ]
    assert open_[0].fired_data["days_to_renewal"] == 120

    account.renewal_on = MONDAY + dt.timedelta(days=365)
    session.add(account)
    result = stages.run_daily(session, now=NOW + dt.timedelta(days=2), tz=TZ)

    assert result.signals_cleared == 1
    _, episodes = stages.account_signals(session, account_id="acme")
    assert episodes[0].cleared_on == MONDAY + dt.timedelta(days=2)
    assert stages.account_signals(session, account_id="acme", active_only=True)[1] == []


def _two_accounts(session: Session) -> tuple[int, int]:
    make_user(session, email="csm@example.com")
    a = make_account(
        session, id="a", name="A", owner="csm@example.com", contract_start_on=dt.date(2025, 1, 1)
    )
    b = make_account(
        session, id="b", name="B", owner="csm@example.com", contract_start_on=dt.date(2025, 1, 1)
    )
    assert a.id is not None and b.id is not None
    return a.id, b.id


def test_a_meeting_booked_in_the_next_14_days_suppresses(session: Session) -> None:
    _two_accounts(session)
    account_b = stages.get_account(session, "b")
    make_interaction(
        session,
        account=account_b,
        type="meeting_scheduled",
        occurred_at=NOW - dt.timedelta(days=3),
        scheduled_for=(NOW + dt.timedelta(days=10)).isoformat(),
    )

    view = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)

    assert [v.account.external_id for v in view.items] == ["a"]
    assert [(v.account.external_id, v.item.suppressed_reason) for v in view.suppressed] == [
        ("b", "meeting_scheduled")
    ]
    item = view.items[0].item
    assert round(sum(f["points"] for f in item.factors), 2) == item.total
    assert item.rank == 1


def test_the_week_list_is_stable_during_the_week(session: Session) -> None:
    _two_accounts(session)
    first = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)
    totals = {v.account.external_id: v.item.total for v in first.items}

    # A meeting on Tuesday would lower A's points, but the week's list was made as of Monday 00:00.
    make_interaction(
        session,
        account=stages.get_account(session, "a"),
        type="meeting",
        occurred_at=NOW + dt.timedelta(days=1),
    )
    second = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW + dt.timedelta(days=1))

    assert {v.account.external_id: v.item.total for v in second.items} == totals
    assert second.stored.id == first.stored.id


def test_interactions_after_monday_midnight_are_not_seen(session: Session) -> None:
    _two_accounts(session)
    # Monday 08:00 Tokyo is after the list's instant (Monday 00:00 Tokyo = Sunday 15:00 UTC).
    make_interaction(
        session,
        account=stages.get_account(session, "a"),
        type="meeting",
        occurred_at=dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC),
    )

    view = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)

    assert not view.suppressed


def test_recompute_keeps_verdicts_and_uses_new_weights(session: Session) -> None:
    _two_accounts(session)
    view = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)
    item = view.items[0].item
    assert item.id is not None
    priorities.give_feedback(
        session,
        item_id=item.id,
        status="not_actionable",
        interaction_id=None,
        reason="talked_offline",
        text=None,
        author="csm",
        now=NOW,
    )
    rules.save(
        session, kind="priorities", config_in={"health_deficit": 80}, author="admin", note=None, now=NOW
    )

    stored = priorities.recompute(session, week=WEEK, tz=TZ, now=NOW, author="admin")
    after = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)

    assert stored.weights_version == 1
    kept = next(v.item for v in after.items if v.item.id == item.id)  # same item, updated in place
    assert (kept.status, kept.reason) == ("not_actionable", "talked_offline")
    assert next(f for f in kept.factors if f["factor"] == "health_deficit")["weight"] == 80


def test_feedback_validation_and_report(session: Session) -> None:
    a, b = _two_accounts(session)
    view = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)
    first, second = (v.item for v in view.items)
    assert first.id is not None and second.id is not None
    other = Interaction(
        account_id=b if first.account_id == a else a, type="meeting", occurred_at=NOW, data={}, created_at=NOW
    )
    session.add(other)
    session.flush()

    with pytest.raises(InvalidInput) as bad:
        priorities.give_feedback(
            session,
            item_id=first.id,
            status="done",
            interaction_id=other.id,
            reason=None,
            text=None,
            author="csm",
            now=NOW,
        )
    assert [e.field for e in bad.value.errors] == ["interaction_id"]
    with pytest.raises(InvalidInput) as bad:
        priorities.give_feedback(
            session,
            item_id=first.id,
            status="not_actionable",
            interaction_id=None,
            reason="other",
            text=" ",
            author="csm",
            now=NOW,
        )
    assert [e.field for e in bad.value.errors] == ["text"]

    mine = Interaction(account_id=first.account_id, type="meeting", occurred_at=NOW, data={}, created_at=NOW)
    session.add(mine)
    session.flush()
    done = priorities.give_feedback(
        session,
        item_id=first.id,
        status="done",
        interaction_id=mine.id,
        reason=None,
        text=None,
        author="csm",
        now=NOW,
    )
    priorities.give_feedback(
        session,
        item_id=second.id,
        status="not_actionable",
        interaction_id=None,
        reason="no_churn_risk",
        text=None,
        author="csm",
        now=NOW,
    )
    report, lists = priorities.feedback(session, from_week="2026-W44", to_week=WEEK)

    assert done.interaction_id == mine.id
    assert (lists, report.items, report.done, report.rejected) == (1, 2, 1, 1)
    assert report.reasons == {"no_churn_risk": 1}


def test_suppressed_items_take_no_verdict(session: Session) -> None:
    _two_accounts(session)
    make_interaction(
        session, account=stages.get_account(session, "b"), type="call", occurred_at=NOW - dt.timedelta(days=2)
    )
    view = priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)
    item_id = view.suppressed[0].item.id
    assert item_id is not None and view.suppressed[0].item.suppressed_reason == "recent_touch"

    with pytest.raises(Conflict):
        priorities.give_feedback(
            session,
            item_id=item_id,
            status="done",
            interaction_id=None,
            reason=None,
            text=None,
            author="csm",
            now=NOW,
        )


def test_future_weeks_are_refused() -> None:
    with pytest.raises(InvalidInput):
        priorities.parse_week("2026-W49", today=MONDAY + dt.timedelta(days=6))
    with pytest.raises(InvalidInput):
        priorities.parse_week("2026-48", today=MONDAY)
    assert priorities.parse_week(None, today=MONDAY + dt.timedelta(days=6)) == WEEK


def test_preview_changes_nothing(session: Session) -> None:
    _two_accounts(session)
    priorities.week_view(session, week=WEEK, tz=TZ, now=NOW)
    before = {i.id: i.total for i in session.exec(select(PriorityItem)).all()}

    weights, rows = priorities.preview(session, week=WEEK, config_in={"per_meeting_month": 0}, tz=TZ, now=NOW)

    assert weights.per_meeting_month == 0
    assert all(r.after_total < (r.before_total or 0) for r in rows)  # no meeting ever: the gap weighed 30
    assert {i.id: i.total for i in session.exec(select(PriorityItem)).all()} == before


def test_the_daily_run_turns_stages_and_signals_into_tasks_once(session: Session) -> None:
    from app.lifecycle import run as lifecycle
    from app.models import Task

    make_account(
        session,
        renewal_on=MONDAY + dt.timedelta(days=120),
        contract_start_on=dt.date(2025, 1, 1),
        segment="enterprise",
    )

    first = lifecycle.run_daily(session, now=NOW, tz=TZ)
    again = lifecycle.run_daily(session, now=NOW + dt.timedelta(hours=6), tz=TZ)

    tasks = session.exec(select(Task)).all()
    assert first.tasks_created == len(tasks) >= 1
    assert again.tasks_created == 0
    assert "renewal_review" in {t.action for t in tasks}  # renewal in 4 months: review with sales
