"""Team KPIs read from the database: period edges in the team's time zone, filters, every input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.accounts import history as account_history
from app.accounts.history import HistoryEventIn
from app.analytics import kpis as svc
from app.errors import InvalidInput
from app.health import models as health_models
from app.models import Checkin, Interaction, PriorityItem, PriorityList, ScoreSnapshot, Task
from tests.builders import make_account, make_user

TOKYO = ZoneInfo("Asia/Tokyo")
UTC = ZoneInfo("UTC")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 23)


def _query(period: str = "2026-10", **filters: str | None) -> svc.KpiQuery:
    return svc.parse_query(period=period, start=None, end=None, today=TODAY, **filters)


def _values(report: svc.KpiReport) -> dict[str, float | None]:
    return {v.key: v.value for v in report.current.values()}


def _interaction(
    session: Session, account_id: int, kind: str, at: dt.datetime, **data: object
) -> Interaction:
    row = Interaction(account_id=account_id, type=kind, occurred_at=at, data=dict(data), created_at=at)
    session.add(row)
    session.flush()
    return row


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def book(session: Session) -> dict[str, int]:
    """Three accounts in two segments, two owners; a history, interactions across the October
    edges in Tokyo, NPS, a check-in answer, tasks, a weekly list and scores."""
    make_user(session, email="sato@example.com")
    make_user(session, email="ito@example.com", name="Ito")
    start = dt.date(2025, 1, 1)
    a = make_account(
        session,
        id="a",
        name="Alpha",
        segment="enterprise",
        owner="sato@example.com",
        arr=Decimal(1000),
        contract_start_on=start,
        industry="manufacturing",
    )
    b = make_account(
        session,
        id="b",
        name="Beta",
        segment="smb",
        owner="ito@example.com",
        arr=Decimal(2000),
        contract_start_on=start,
        industry="retail",
    )
    c = make_account(
        session,
        id="c",
        name="Gamma",
        segment="smb",
        arr=Decimal(500),
        contract_start_on=start,
        industry="retail",
    )
    assert a.id and b.id and c.id
    account_history.import_history(
        session,
        events_in=[
            # On October's last day: October's renewal, with growth.
            HistoryEventIn("a", "renewal", dt.date(2026, 10, 31), Decimal(1000), Decimal(1500)),
            HistoryEventIn("b", "churn", dt.date(2026, 10, 15), Decimal(2000), Decimal(0)),
            HistoryEventIn("c", "renewal", dt.date(2026, 11, 1), Decimal(500), Decimal(500)),
        ],
        actor="test",
        now=NOW,
    )
    b.status, b.churned_on = "churned", dt.date(2026, 10, 15)
    session.add(b)
    # 2026-10-31 16:00 UTC is 1 November 01:00 in Tokyo: November there, October in UTC.
    _interaction(session, a.id, "email_click", _utc(2026, 10, 31, 16, 0))
    # 2026-09-30 15:30 UTC is 1 October 00:30 in Tokyo: October there, September in UTC.
    _interaction(session, b.id, "meeting", _utc(2026, 9, 30, 15, 30))
    _interaction(session, c.id, "webinar", _utc(2026, 10, 10, 3, 0), attended=True)
    _interaction(session, a.id, "event", _utc(2026, 10, 11, 3, 0), attended=False)
    reply = _interaction(session, a.id, "email_reply", _utc(2026, 10, 12, 3, 0), checkin=1, answer="problem")
    session.add(
        Checkin(
            account_id=a.id,
            sent_at=_utc(2026, 10, 1),
            answer="problem",
            answered_at=reply.occurred_at,
            interaction_id=reply.id,
        )
    )
    _interaction(session, c.id, "email_reply", _utc(2026, 10, 12, 3, 0))  # not a check-in
    _interaction(session, a.id, "nps_response", _utc(2026, 10, 5), score=10, comment="Great")
    _interaction(session, b.id, "nps_response", _utc(2026, 10, 6), score=3, comment="Slow")
    _interaction(session, c.id, "nps_response", _utc(2026, 10, 7), score=8)
    for due, status, done in (
        (dt.date(2026, 10, 10), "done", _utc(2026, 10, 10, 14, 0)),
        (dt.date(2026, 10, 10), "done", _utc(2026, 10, 10, 15, 30)),
        (dt.date(2026, 10, 12), "open", None),
    ):
        # 14:00 UTC is 23:00 in Tokyo (on time); 15:30 UTC is 00:30 the next day (late).
        session.add(
            Task(
                account_id=a.id,
                title="Call",
                due_on=due,
                status=status,
                completed_at=done,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    week = PriorityList(week="2026-W41", as_of=_utc(2026, 10, 4, 15, 0), weights_version=1, computed_at=NOW)
    session.add(week)
    session.flush()
    assert week.id is not None
    for account_id, status in ((a.id, "done"), (b.id, "not_actionable"), (c.id, "open")):
        session.add(PriorityItem(list_id=week.id, account_id=account_id, total=1.0, status=status))
    _, version = health_models.adopt_preset(session, preset="abc", now=NOW)
    assert version.id is not None
    for account_id, day, score in (
        (a.id, dt.date(2026, 9, 28), 50.0),
        (b.id, dt.date(2026, 9, 30), 70.0),
        (a.id, dt.date(2026, 10, 31), 60.0),
        (b.id, dt.date(2026, 10, 30), 70.0),
        (c.id, dt.date(2026, 10, 31), 20.0),
        (c.id, dt.date(2026, 9, 1), 99.0),
    ):  # too old for 30 Sep
        session.add(
            ScoreSnapshot(
                account_id=account_id,
                model_version_id=version.id,
                day=day,
                score=score,
                measure_values=[],
                computed_at=NOW,
            )
        )
    session.flush()
    return {"a": a.id, "b": b.id, "c": c.id}


def test_october_in_tokyo(session: Session, book: dict[str, int]) -> None:
    report = svc.team_kpis(session, query=_query(), today=TODAY, tz=TOKYO)
    values = _values(report)
    assert report.accounts == 3
    # a renewed on the 31st, b churned: 1 of 2. c renews on 1 November.
    assert values["renewal_rate"] == 0.5
    # Paying on 30 September: 1000 + 2000 + 500; at the end 1500 + 0 + 500.
    assert values["net_revenue_retention"] == pytest.approx(2000 / 3500)
    assert values["gross_revenue_retention"] == pytest.approx(1500 / 3500)
    # a: 50 → 60, b: 70 → 70; c has no score on the eve (its last is too old).
    assert values["score_change_per_account"] == 5.0
    assert values["average_score_change"] == pytest.approx(50.0 - 60.0)
    # Responded: c (webinar), a (check-in answer); a's click is November in Tokyo, its event
    # was missed, c's plain reply is not a check-in answer.
    assert values["response_rate"] == pytest.approx(2 / 3)
    assert values["coverage"] == pytest.approx(1 / 3)  # b's meeting is 1 October in Tokyo
    assert values["nps"] == 0.0  # one promoter, one passive, one detractor
    assert values["tasks_on_time"] == pytest.approx(1 / 3)
    assert values["weekly_list_done"] == 0.5
    assert [(c.account.external_id, c.score, c.comment) for c in report.comments] == [
        ("c", 8, None),
        ("b", 3, "Slow"),
        ("a", 10, "Great"),
    ]
    assert [(r.account.external_id, r.renewal.outcome) for r in report.renewals] == [
        ("b", "churned"),
        ("a", "renewed"),
    ]
    assert (report.model_name, report.scale_max) == ("ABC health", 100.0)
    assert len(report.trend) == 12


def test_the_same_data_in_utc_moves_the_edges(session: Session, book: dict[str, int]) -> None:
    values = _values(svc.team_kpis(session, query=_query(), today=TODAY, tz=UTC))
    assert values["coverage"] == 0.0  # b's meeting is 30 September in UTC
    # a's click (31 October in UTC) and check-in answer, c's webinar.
    assert values["response_rate"] == pytest.approx(2 / 3)
    assert values["tasks_on_time"] == pytest.approx(2 / 3)  # 15:30 UTC is still the 10th


def test_november_is_running(session: Session, book: dict[str, int]) -> None:
    report = svc.team_kpis(session, query=_query("2026-11"), today=TODAY, tz=TOKYO)
    values = _values(report)
    assert values["renewal_rate"] == 1.0  # c on 1 November
    assert values["response_rate"] == 0.5  # a's click; b churned in October is not active
    assert values["nps"] is None and report.comments == []
    assert report.trend[-2].period.key == "2026-10"


@pytest.mark.parametrize(
    ("filters", "accounts", "renewal_rate"),
    [
        ({"segment": "smb"}, 2, 0.0),
        ({"owner": "SATO@example.com"}, 1, 1.0),
        ({"owner": "none"}, 1, None),
        ({"industry": "retail"}, 2, 0.0),
        ({"segment": "enterprise", "industry": "retail"}, 0, None),
    ],
)
def test_filters(
    session: Session, book: dict[str, int], filters: dict[str, str], accounts: int, renewal_rate: float | None
) -> None:
    report = svc.team_kpis(session, query=_query(**filters), today=TODAY, tz=TOKYO)
    assert report.accounts == accounts
    assert _values(report)["renewal_rate"] == renewal_rate


def test_tier_filter(session: Session, book: dict[str, int]) -> None:
    from app.accounts import industries

    industries.set_override(session, industry="retail", tier=4, reason="test", actor="t", now=NOW)
    report = svc.team_kpis(session, query=_query(tier="4"), today=TODAY, tz=TOKYO)
    assert {c.account.external_id for c in report.comments} == {"b", "c"}
    assert svc.team_kpis(session, query=_query(tier="1"), today=TODAY, tz=TOKYO).accounts == 0


def test_empty_database(session: Session) -> None:
    report = svc.team_kpis(session, query=_query("2026-Q3"), today=TODAY, tz=TOKYO)
    assert report.accounts == 0 and report.model_name is None
    assert all(v is None for v in _values(report).values())


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"period": "2026-13"}, {"period"}),
        ({"period": "2026-10", "start": "2026-10-01", "end": "2026-10-02"}, {"period"}),
        ({"start": "2026-10-01"}, {"to"}),
        ({"start": "yesterday", "end": "2026-10-02"}, {"from"}),
        ({"start": "2026-10-05", "end": "2026-10-01"}, {"to"}),
        ({"segment": "huge"}, {"segment"}),
        ({"tier": "5"}, {"tier"}),
        ({"tier": "one"}, {"tier"}),
    ],
)
def test_parse_query_names_the_bad_parameter(params: dict[str, str], fields: set[str]) -> None:
    args: dict[str, str | None] = {"period": None, "start": None, "end": None, **params}
    with pytest.raises(InvalidInput) as caught:
        svc.parse_query(today=TODAY, **args)  # type: ignore[arg-type]
    assert {e.field for e in caught.value.errors} == fields
    assert {e.location for e in caught.value.errors} == {"query"}


def test_parse_query_defaults_and_ranges() -> None:
    assert svc.parse_query(period=None, start=None, end=None, today=TODAY).period.key == "2026-11"
    query = svc.parse_query(
        period="", start="2026-10-05", end="2026-11-04", today=TODAY, owner=" Sato@Example.com ", tier="2"
    )
    assert query.period.key == "2026-10-05..2026-11-04"
    assert (query.filters.owner, query.filters.tier) == ("sato@example.com", 2)


@pytest.mark.slow
def test_the_demo_gives_every_kpi_a_value(session: Session) -> None:
    from app.demo import service as demo

    demo.load_demo(session, seed=7, accounts=10, now=NOW, tz=TOKYO)
    report = svc.team_kpis(session, query=_query("2026-Q4"), today=TODAY, tz=TOKYO)
    empty = [key for key, value in _values(report).items() if value is None]
    assert empty == []
    assert report.comments and report.renewals
