"""Measure values on a small hand-built book: every source kind, with values worked out by hand.

Time zone Asia/Tokyo, scoring date 2026-11-23: the 30-day window is 10-25 … 11-23, the 7-day
one 11-17 … 11-23, the 90-day one 08-26 … 11-23; interaction days begin at 15:00 UTC the day
before. Usage goes in through ingestion's ``add_usage`` and the pushed-aggregates service, so
whatever rollups they maintain are exercised too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.health import values as health_values
from app.health.spec import ModelSpec
from app.health.values import Values, compute_values, load_accounts
from app.ingest.rollups import UsageRow, add_usage
from app.models import Account, Contact, SentimentRating
from app.usage import aggregates as usage_svc
from app.usage import features as features_svc
from app.usage.schemas import DailyAggregateIn
from tests.builders import AS_OF, make_account, make_contact, make_interaction, make_user

TZ = ZoneInfo("Asia/Tokyo")
TODAY = dt.date(2026, 11, 23)


def _day(offset: int) -> dt.date:
    return TODAY - dt.timedelta(days=offset)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _raw(session: Session, account_id: int, events: list[tuple[int, str, str, int]]) -> None:
    """(day offset, user, event, how many times) as ingested raw events."""
    rows = [
        UsageRow(account_id, _day(offset), event, user,
                 dt.datetime.combine(_day(offset), dt.time(3), tzinfo=dt.UTC))
        for offset, user, event, times in events for _ in range(times)
    ]
    add_usage(session, rows, AS_OF)


def _push(session: Session, rows: list[dict[str, Any]]) -> None:
    usage_svc.replace_daily_aggregates(
        session, rows=[DailyAggregateIn(**r) for r in rows], now=AS_OF
    )


@pytest.fixture(params=["named", "all"])
def scope(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Queries name the accounts scored, or (as for a large book) read every account's rows."""
    if request.param == "all":
        monkeypatch.setattr(health_values, "NAMED_ACCOUNTS", 0)
    return str(request.param)


@pytest.fixture
def book(session: Session, scope: str) -> dict[str, int]:
    make_user(session, email="first@example.com")
    make_user(session, email="second@example.com", name="Second")
    for key, patterns, is_key in (("reports", ["report.*"], True),
                                  ("dashboards", ["Dashboard Viewed"], True),
                                  ("alerts", ["alert.*"], True),
                                  ("other", ["Other"], False)):
        features_svc.create_feature(
            session, now=AS_OF,
            feature_in=features_svc.FeatureIn(key=key, name=key, patterns=patterns, is_key=is_key),
        )
    a = make_account(session, id="a", name="A", licensed_seats=10, arr="1200000",
                     owner="first@example.com", contract_start_on=dt.date(2025, 11, 23))
    b = make_account(session, id="b", name="B", contract_start_on=dt.date(2026, 1, 1))
    c = make_account(session, id="c", name="C", licensed_seats=4, owner="first@example.com")
    e = make_account(session, id="e", name="E", licensed_seats=20, owner="second@example.com")
    churned = make_account(session, id="gone", name="Gone", status="churned",
                           churned_on=dt.date(2026, 10, 1))
    later = make_account(session, id="later", name="Later", contract_start_on=dt.date(2026, 12, 1))
    ids = {"a": a.id, "b": b.id, "c": c.id, "e": e.id, "gone": churned.id, "later": later.id}
    assert all(ids.values())

    _raw(session, a.id or 0, [
        (0, "a1", "report.created", 2), (0, "a2", "Dashboard Viewed", 1),
        (3, "a1", "alert.fired", 1), (3, "a3", "Other", 4),
        (13, "a4", "report.exported", 1),
        (29, "a5", "Other", 1),  # the 30-day window's first day
        (30, "a6", "report.created", 3),  # the day before it
        (83, "a7", "Dashboard Viewed", 2),
        (-1, "a8", "report.created", 5),  # tomorrow: after the scoring date
    ])
    _raw(session, b.id or 0, [(1, "b1", "Dashboard Viewed", 1)])
    _raw(session, churned.id or 0, [(1, "g1", "Other", 1)])
    # E: raw events, then pushed aggregates that replace some of them.
    _raw(session, e.id or 0, [(1, "e1", "Dashboard Viewed", 1), (1, "e2", "Dashboard Viewed", 1),
                              (4, "e1", "Other", 1)])
    _push(session, [
        {"account_id": "e", "day": _day(2), "event": "report.created", "count": 30,
         "distinct_users": 12, "active_users": 15},
        {"account_id": "e", "day": _day(1), "event": "Dashboard Viewed", "count": 5,
         "distinct_users": 5},
        {"account_id": "e", "day": _day(0), "event": "alert.fired", "count": 0,
         "distinct_users": 0},
        {"account_id": "e", "day": _day(4), "event": "Other", "count": 0, "distinct_users": 0},
    ])
    # The same user again on a day whose count a push set to zero: the day is active again.
    _raw(session, e.id or 0, [(4, "e1", "Other", 1)])

    make_contact(session, account_id="a", name="Champion", is_champion=True)
    make_contact(session, account_id="a", name="Boss", is_decision_maker=True)
    make_contact(session, account_id="a", name="Someone")
    star = make_contact(session, account_id="a", name="Gone star", is_star_user=True)
    session.get(Contact, star.id).status = "deleted"  # type: ignore[union-attr]
    make_contact(session, account_id="b", name="Star", is_star_user=True)

    for kind, at, data in (
        ("meeting", "2026-11-10T02:00", {}),
        ("call", "2026-11-22T15:30", {}),  # 11-23 00:30 in Tokyo
        ("meeting", "2026-11-23T15:30", {}),  # 11-24 in Tokyo: after the scoring date
        ("webinar", "2026-11-22T14:59", {}),
        ("webinar", "2026-08-25T15:00", {}),  # 08-26 00:00 in Tokyo: first day of 90
        ("event", "2026-08-25T14:59", {}),  # 08-25 in Tokyo: outside
        ("nps_response", "2026-11-01T00:00", {"score": 8}),
        ("nps_response", "2026-11-15T00:00", {"score": 6}),
        ("nps_response", "2026-11-15T00:00", {"score": 9}),  # same time, later id: wins
        ("nps_response", "2026-11-20T00:00", {"score": "ten"}),  # not a number
        ("nps_response", "2025-11-20T00:00", {"score": 10}),  # older than 365 days
    ):
        make_interaction(session, account=a, type=kind, occurred_at=_utc(at), **data)
    make_interaction(session, account=c, type="support_ticket", occurred_at=_utc("2026-11-20T00:00"))

    first = a.owner_id
    second = e.owner_id
    for account_id, rating, owner, at in (
        (a.id, 5, first, "2026-07-01T00:00"),  # expired (older than 90 days)
        (a.id, 2, first, "2026-11-01T00:00"),
        (a.id, 1, first, "2026-11-24T00:00"),  # after the scoring date
        (b.id, 4, None, "2026-11-20T00:00"),
        (c.id, 3, first, "2026-11-20T00:00"),  # C changes owner below
        (e.id, 5, second, "2026-11-01T00:00"),
        (e.id, 1, first, "2026-11-10T00:00"),  # the newest, given under another owner
    ):
        session.add(SentimentRating(account_id=account_id, rating=rating, owner_id=owner,
                                    created_at=_utc(at)))
    session.get(Account, c.id).owner_id = second  # type: ignore[union-attr]
    session.commit()
    return ids  # type: ignore[return-value]


def _usage(metric: str, **kw: Any) -> dict[str, Any]:
    return {"type": "usage", "metric": metric, **kw}


#: Measure key → (source, window days).
MEASURES: dict[str, tuple[dict[str, Any], int]] = {
    "events": (_usage("events"), 30),
    "events_7": (_usage("events"), 7),
    "events_reports": (_usage("events", events=["report.*"]), 30),
    "events_dashboards": (_usage("events", features=["dashboards"]), 30),
    "events_exact": (_usage("events", events=["Other", "nothing.like.this"]), 30),
    "events_none": (_usage("events", events=["nothing.*"]), 30),
    "events_per_seat": (_usage("events", per_seat=True), 30),
    "users": (_usage("active_users"), 30),
    "users_7": (_usage("active_users"), 7),
    "users_90": (_usage("active_users"), 90),
    "users_reports": (_usage("active_users", events=["report.*"]), 30),
    "days": (_usage("active_days"), 30),
    "days_90": (_usage("active_days"), 90),
    "days_report_alert": (_usage("active_days", events=["report.*", "alert.*"]), 30),
    "days_report_alert_90": (_usage("active_days", events=["report.*", "alert.*"]), 90),
    "key_features": (_usage("key_features_used"), 30),
    "key_features_1": (_usage("key_features_used"), 1),
    "key_features_90": (_usage("key_features_used"), 90),
    "key_features_of_reports": (_usage("key_features_used", events=["report.*", "Other"]), 30),
    "seat_activation": (_usage("seat_activation"), 30),
    "trend": ({"type": "trend", "of": _usage("events")}, 30),
    "trend_users": ({"type": "trend", "of": _usage("active_users")}, 30),
    "since_meeting_or_call": ({"type": "interactions", "metric": "days_since_last",
                               "types": ["meeting", "call"]}, 30),
    "since_meeting": ({"type": "interactions", "metric": "days_since_last",
                       "types": ["meeting"]}, 30),
    "webinars_90": ({"type": "interactions", "metric": "count", "types": ["webinar", "event"]}, 90),
    "interactions_30": ({"type": "interactions", "metric": "count"}, 30),
    "nps": ({"type": "interactions", "metric": "latest_nps", "types": ["nps_response"]}, 365),
    "nps_30": ({"type": "interactions", "metric": "latest_nps"}, 30),
    "sentiment": ({"type": "sentiment", "expires_days": 90}, 30),
    **{name: ({"type": "attribute", "attribute": name}, 30)
       for name in ("licensed_seats", "arr", "tenure_days", "contacts", "has_star_user",
                    "has_champion", "has_decision_maker")},
}


def _spec(measures: dict[str, tuple[dict[str, Any], int]], **model: Any) -> ModelSpec:
    return ModelSpec.model_validate({
        **model,
        "groups": [{"key": "all", "name": "All", "measures": [
            {"key": key.replace("_", "-"), "name": key, "source": source, "window_days": window,
             "grading": {"kind": "thresholds", "good": 1, "normal": 0}}
            for key, (source, window) in measures.items()
        ]}],
    })


def _values(session: Session, ids: list[int] | None = None, spec: ModelSpec | None = None,
            as_of: dt.date = TODAY) -> Values:
    accounts = load_accounts(session, account_ids=ids, as_of=as_of)
    return compute_values(session, spec or _spec(MEASURES), accounts=accounts, as_of=as_of, tz=TZ)


def _by_key(values: Values, account_id: int) -> dict[str, float | None]:
    return {k.replace("-", "_"): v.value for k, v in values.inputs[account_id].items()}


EXPECTED = {
    "a": {
        "events": 10.0, "events_7": 8.0, "events_reports": 3.0, "events_dashboards": 1.0,
        "events_exact": 5.0, "events_none": 0.0, "events_per_seat": 1.0,
        "users": 5.0, "users_7": 3.0, "users_90": 7.0, "users_reports": 2.0,
        "days": 4.0, "days_90": 6.0, "days_report_alert": 3.0, "days_report_alert_90": 4.0,
        "key_features": 3.0, "key_features_1": 2.0, "key_features_90": 3.0,
        "key_features_of_reports": 1.0, "seat_activation": 0.5,
        "trend": 2.333333,  # 10 now against 3 in the 30 days before
        "trend_users": 4.0,  # 5 users against 1
        "since_meeting_or_call": 0.0, "since_meeting": 13.0, "webinars_90": 2.0,
        # The meeting, the call, a webinar and four NPS responses (not the late meeting).
        "interactions_30": 7.0,
        "nps": 9.0, "nps_30": 9.0, "sentiment": 2.0,
        "licensed_seats": 10.0, "arr": 1200000.0, "tenure_days": 365.0, "contacts": 3.0,
        "has_star_user": 0.0, "has_champion": 1.0, "has_decision_maker": 1.0,
    },
    "b": {
        "events": 1.0, "events_7": 1.0, "events_reports": 0.0, "events_dashboards": 1.0,
        "events_exact": 0.0, "events_none": 0.0, "events_per_seat": None,
        "users": 1.0, "users_7": 1.0, "users_90": 1.0, "users_reports": 0.0,
        "days": 1.0, "days_90": 1.0, "days_report_alert": 0.0, "days_report_alert_90": 0.0,
        "key_features": 1.0, "key_features_1": 0.0, "key_features_90": 1.0,
        "key_features_of_reports": 0.0, "seat_activation": None,
        "trend": 1.0, "trend_users": 1.0,  # up from nothing
        "since_meeting_or_call": None, "since_meeting": None, "webinars_90": 0.0,
        "interactions_30": 0.0, "nps": None, "nps_30": None, "sentiment": 4.0,
        "licensed_seats": None, "arr": 0.0, "tenure_days": 326.0, "contacts": 1.0,
        "has_star_user": 1.0, "has_champion": 0.0, "has_decision_maker": 0.0,
    },
    "c": {
        "events": 0.0, "events_7": 0.0, "events_reports": 0.0, "events_dashboards": 0.0,
        "events_exact": 0.0, "events_none": 0.0, "events_per_seat": 0.0,
        "users": 0.0, "users_7": 0.0, "users_90": 0.0, "users_reports": 0.0,
        "days": 0.0, "days_90": 0.0, "days_report_alert": 0.0, "days_report_alert_90": 0.0,
        "key_features": 0.0, "key_features_1": 0.0, "key_features_90": 0.0,
        "key_features_of_reports": 0.0, "seat_activation": 0.0,
        "trend": 0.0, "trend_users": 0.0,
        "since_meeting_or_call": None, "since_meeting": None, "webinars_90": 0.0,
        "interactions_30": 1.0, "nps": None, "nps_30": None,
        "sentiment": None,  # rated under the previous owner
        "licensed_seats": 4.0, "arr": 0.0, "tenure_days": None, "contacts": 0.0,
        "has_star_user": 0.0, "has_champion": 0.0, "has_decision_maker": 0.0,
    },
    "e": {
        # Pushed: 30 report.created on 11-21, 5 Dashboard Viewed on 11-22 (replacing the two
        # raw ones), zero alert.fired on 11-23; "Other" on 11-19 pushed to zero, then one more
        # raw event.
        "events": 36.0, "events_7": 36.0, "events_reports": 30.0, "events_dashboards": 5.0,
        "events_exact": 1.0, "events_none": 0.0, "events_per_seat": 1.8,
        # Two users seen in raw events; the pushed busiest day (15 on 11-21) bounds it below.
        "users": 15.0, "users_7": 15.0, "users_90": 15.0,
        "users_reports": 12.0,  # no raw report users; 12 pushed distinct users
        "days": 3.0, "days_90": 3.0, "days_report_alert": 1.0, "days_report_alert_90": 1.0,
        "key_features": 2.0, "key_features_1": 0.0, "key_features_90": 2.0,
        "key_features_of_reports": 1.0, "seat_activation": 0.75,
        "trend": 1.0, "trend_users": 1.0,
        "since_meeting_or_call": None, "since_meeting": None, "webinars_90": 0.0,
        "interactions_30": 0.0, "nps": None, "nps_30": None,
        "sentiment": None,  # the newest rating was given under another owner
        "licensed_seats": 20.0, "arr": 0.0, "tenure_days": None, "contacts": 0.0,
        "has_star_user": 0.0, "has_champion": 0.0, "has_decision_maker": 0.0,
    },
}


def test_accounts_to_score_are_active_and_started(session: Session, book: dict[str, int]) -> None:
    ids = [a.id for a in load_accounts(session, as_of=TODAY)]
    assert ids == [book["a"], book["b"], book["c"], book["e"]]
    assert book["gone"] in [a.id for a in load_accounts(session, as_of=TODAY, include_churned=True)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_measure_kind_has_its_hand_computed_value(
    session: Session, book: dict[str, int], name: str
) -> None:
    values = _values(session)

    assert _by_key(values, book[name]) == EXPECTED[name]


def test_scoring_some_accounts_gives_the_same_values(session: Session, book: dict[str, int]) -> None:
    for name in ("a", "e"):
        values = _values(session, [book[name]])

        assert [a.id for a in values.accounts] == [book[name]]
        assert _by_key(values, book[name]) == EXPECTED[name]


def test_usage_freshness_is_the_newest_rollup_day_up_to_the_scoring_date(
    session: Session, book: dict[str, int]
) -> None:
    values = _values(session)
    inputs = values.inputs[book["c"]]

    assert inputs["users"].data_as_of == TODAY  # any account's data counts, not only C's
    assert inputs["trend"].data_as_of == TODAY
    assert inputs["nps"].data_as_of == TODAY
    earlier = _values(session, as_of=_day(50))
    assert earlier.inputs[book["a"]]["users"].data_as_of == _day(83)


def test_values_at_an_earlier_date(session: Session, book: dict[str, int]) -> None:
    """Windows end on the scoring date: on 10-24, A's last 30 days hold only 10-24 itself."""
    values = _values(session, as_of=_day(30))
    got = _by_key(values, book["a"])

    assert got["events"] == 3.0 and got["users"] == 1.0 and got["days"] == 1.0
    assert got["key_features"] == 1.0 and got["users_90"] == 2.0 and got["days_90"] == 2.0
    assert got["since_meeting_or_call"] is None and got["tenure_days"] == 335.0


@pytest.mark.parametrize(("as_of", "expected"), [(dt.date(2026, 9, 29), 5.0),
                                                 (dt.date(2026, 9, 30), None)])
def test_sentiment_expires_after_its_days(
    session: Session, book: dict[str, int], as_of: dt.date, expected: float | None
) -> None:
    """A's rating of 07-01 (09:00 in Tokyo) counts for 90 days: through 09-29."""
    values = _values(session, [book["a"]], as_of=as_of)

    assert values.inputs[book["a"]]["sentiment"].value == expected


def test_key_feature_history_holds_the_two_months_before(
    session: Session, book: dict[str, int]
) -> None:
    spec = _spec({"events": (_usage("events"), 30), "users": (_usage("active_users"), 30),
                  "kf": (_usage("key_features_used"), 30), "nps": MEASURES["nps"]},
                 key_feature_status=True)
    values = _values(session, spec=spec)

    assert values.history[book["a"]] == {
        # 08-26 … 09-24 holds a7's 09-01, 09-25 … 10-24 holds a6's 10-24.
        "events": [2.0, 3.0, 10.0], "users": [1.0, 1.0, 5.0], "kf": [1.0, 1.0, 3.0],
    }
    assert "nps" not in values.history[book["a"]]


def test_no_accounts_no_queries(session: Session, book: dict[str, int]) -> None:
    values = compute_values(session, _spec(MEASURES), accounts=[], as_of=TODAY, tz=TZ)

    assert values.inputs == {} and values.history == {}
