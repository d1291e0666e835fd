"""Automated emails go inside their windows only: a check-in between day 30 and 44 of the
contract, once; a scheduled report or a Monday digest within the grace period after its due
time. A first start over an old book, or a start after days down, catches nothing up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.models import Account, AdoptionReport, Checkin, Outbox
from app.priorities import digest
from app.reports import checkins
from app.reports import service as reports
from tests.builders import AS_OF, make_account, make_contact, make_interaction, make_user

TODAY = dt.date(2026, 11, 23)  # AS_OF in Tokyo (18:00, a Monday)
DAY = dt.timedelta(days=1)


def _book(engine: Engine, tenures: list[int]) -> None:
    """One account per tenure (days into the contract today), each with a champion."""
    with session_scope(engine) as session:
        for days in tenures:
            make_account(
                session, id=f"a{days}", name=f"Day {days}", contract_start_on=TODAY - dt.timedelta(days=days)
            )
            make_contact(session, account_id=f"a{days}", email=f"champion@a{days}.example", is_champion=True)


def _asked(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(row.to_addr for row in session.exec(select(Outbox).where(Outbox.kind == "checkin")))


def test_a_first_start_over_an_old_book_asks_only_accounts_inside_the_window(
    engine: Engine,
    settings: Settings,
) -> None:
    _book(engine, [29, 30, 35, 44, 45, 100, 719])
    with session_scope(engine) as session:
        assert checkins.send_checkins(session, settings=settings, now=AS_OF) == 3
    assert _asked(engine) == ["champion@a30.example", "champion@a35.example", "champion@a44.example"]
    # Tomorrow the day-29 account enters its window; the day-44 one has left it (asked anyway).
    with session_scope(engine) as session:
        assert checkins.send_checkins(session, settings=settings, now=AS_OF + DAY) == 1
    assert "champion@a29.example" in _asked(engine) and len(_asked(engine)) == 4


def test_an_account_on_day_35_is_asked_once(engine: Engine, settings: Settings) -> None:
    _book(engine, [35])
    for now in (AS_OF, AS_OF, AS_OF + DAY, AS_OF + 5 * DAY):
        with session_scope(engine) as session:
            checkins.send_checkins(session, settings=settings, now=now)
    assert _asked(engine) == ["champion@a35.example"]
    with Session(engine) as session:
        assert len(session.exec(select(Checkin)).all()) == 1


def test_the_window_is_a_setting(engine: Engine, settings: Settings) -> None:
    _book(engine, [35, 60])
    wide = settings.model_copy(update={"checkin_from_day": 50, "checkin_until_day": 70})
    with session_scope(engine) as session:
        assert checkins.send_checkins(session, settings=wide, now=AS_OF) == 1
    assert _asked(engine) == ["champion@a60.example"]


def test_the_first_days_are_counted_in_the_team_time_zone(engine: Engine, settings: Settings) -> None:
    """A ticket at 08:00 in Tokyo on the contract's first day is inside its first 30 days (it is
    the day before in UTC); a webinar at 08:00 on day 30 is outside them."""
    tokyo = settings.tz
    _book(engine, [35, 36])
    with session_scope(engine) as session:
        for account_id, days_in, kind in (("a35", 0, "support_ticket"), ("a36", 30, "webinar")):
            account = session.exec(select(Account).where(Account.external_id == account_id)).one()
            assert account.contract_start_on is not None
            day = account.contract_start_on + dt.timedelta(days=days_in)
            at = dt.datetime.combine(day, dt.time(8), tokyo).astimezone(dt.UTC)
            make_interaction(session, account=account, type=kind, occurred_at=at)
    with session_scope(engine) as session:
        checkins.send_checkins(session, settings=settings, now=AS_OF)

    assert _asked(engine) == ["champion@a36.example"]


def _acme_with_schedule(engine: Engine, *, created: dt.datetime) -> None:
    with session_scope(engine) as session:
        make_account(session, contract_start_on=dt.date(2025, 1, 1))
        make_contact(session, email="yui@acme.example", is_champion=True)
        reports.create_schedule(
            session,
            account_id="acme",
            cadence="monthly",
            day_of_month=1,
            recipients=["yui@acme.example"],
            language="en",
            now=created,
        )


def _run_schedules(engine: Engine, settings: Settings, now: dt.datetime) -> int:
    with session_scope(engine) as session:
        return reports.run_schedules(session, settings=settings, now=now)


# 2026-11-01 00:00 in Tokyo: the due time of October's report on a "day 1" schedule.
NOV_1 = dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC)


def test_a_report_is_sent_within_the_grace_period_after_its_due_time(
    engine: Engine,
    settings: Settings,
) -> None:
    _acme_with_schedule(engine, created=dt.datetime(2026, 10, 10, tzinfo=dt.UTC))
    assert _run_schedules(engine, settings, NOV_1 - dt.timedelta(minutes=1)) == 0
    assert _run_schedules(engine, settings, NOV_1 + dt.timedelta(hours=5)) == 1
    assert _run_schedules(engine, settings, NOV_1 + dt.timedelta(hours=6)) == 0  # once
    with Session(engine) as session:
        (made,) = session.exec(select(AdoptionReport)).all()
    assert made.period_start == dt.date(2026, 10, 1)


def test_a_server_down_for_a_week_sends_no_past_reports(
    engine: Engine,
    settings: Settings,
) -> None:
    _acme_with_schedule(engine, created=dt.datetime(2026, 10, 10, tzinfo=dt.UTC))
    assert _run_schedules(engine, settings, NOV_1 + 7 * DAY) == 0
    assert _run_schedules(engine, settings, NOV_1 + dt.timedelta(hours=settings.schedule_grace_hours)) == 0
    with Session(engine) as session:
        assert session.exec(select(Outbox)).all() == []
    # December's report, on time, goes.
    assert _run_schedules(engine, settings, NOV_1 + 30 * DAY + dt.timedelta(hours=1)) == 1


def test_a_schedule_created_today_sends_nothing_for_past_periods(
    engine: Engine,
    settings: Settings,
) -> None:
    _acme_with_schedule(engine, created=AS_OF)
    assert _run_schedules(engine, settings, AS_OF) == 0
    # Even created minutes after the due time, within the grace period: that period is past.
    with session_scope(engine) as session:
        reports.create_schedule(
            session,
            account_id="acme",
            cadence="quarterly",
            day_of_month=1,
            recipients=["yui@acme.example"],
            language="en",
            now=NOV_1 + dt.timedelta(minutes=5),
        )
    assert _run_schedules(engine, settings, NOV_1 + dt.timedelta(minutes=10)) == 0


def _digest_book(engine: Engine) -> None:
    with session_scope(engine) as session:
        make_user(session, email="csm@example.com", name="Aiko")
        make_account(session, owner="csm@example.com", contract_start_on=dt.date(2025, 1, 1))


def _digests(engine: Engine, settings: Settings, now: dt.datetime) -> int:
    with session_scope(engine) as session:
        return digest.send_digests(session, settings=settings, now=now)


def test_a_server_down_since_monday_sends_no_late_digest(
    engine: Engine,
    settings: Settings,
) -> None:
    _digest_book(engine)
    # Monday 07:00 Tokyo is due; Wednesday is past the grace period: nothing this week.
    assert _digests(engine, settings, AS_OF + 2 * DAY) == 0
    assert _digests(engine, settings, AS_OF + 6 * DAY) == 0
    # The next Monday, on time, goes.
    assert _digests(engine, settings, AS_OF + 7 * DAY) == 1


def test_a_digest_goes_within_the_grace_period(engine: Engine, settings: Settings) -> None:
    _digest_book(engine)
    due = dt.datetime(2026, 11, 22, 22, 0, tzinfo=dt.UTC)  # Monday 07:00 in Tokyo
    assert _digests(engine, settings, due - dt.timedelta(minutes=1)) == 0
    late = due + dt.timedelta(hours=settings.schedule_grace_hours) - dt.timedelta(minutes=1)
    assert _digests(engine, settings, late) == 1
