"""The account's merged timeline: score changes, goal events and interactions, paged across
sources."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.accounts import timeline as timeline_svc
from app.models import Account, HealthModelVersion
from app.plans import goals as plan_goals
from tests.views.conftest import HX
from tests.views.data import AS_OF, CSM, TZ, Book


def test_score_events_are_band_changes_and_big_moves() -> None:
    day = dt.date(2026, 11, 1)
    series = [
        (day, 62.0, "normal"),
        (day + dt.timedelta(7), 75.0, "good"),
        (day + dt.timedelta(14), 69.5, "normal"),
        (day + dt.timedelta(21), 58.0, "normal"),
        (day + dt.timedelta(28), 50.0, "normal"),
        (day + dt.timedelta(35), 39.0, "bad"),
    ]

    events = timeline_svc.score_events(series, scale_max=100)

    assert [(e.before, e.after, e.band_changed) for e in events] == [
        (62.0, 75.0, True),
        (75.0, 69.5, True),
        (69.5, 58.0, False),
        (50.0, 39.0, True),
    ]
    assert timeline_svc.score_events(series[:1], scale_max=100) == []
    # On a 0–4 scale 0.4 is a big move: 1.2 → 1.6 shows, 1.6 → 1.9 does not.
    small = [(day, 1.2, "bad"), (day + dt.timedelta(1), 1.6, "bad"), (day + dt.timedelta(2), 1.9, "bad")]
    assert [e.after for e in timeline_svc.score_events(small, scale_max=4)] == [1.6]


def _goal_changes(engine: Engine, book: Book) -> None:
    with Session(engine) as session:
        goal = plan_goals.get_goal(session, account_id="acme", plan_id=book.plan_id, goal_id=book.goal_ids[1])
        plan_goals.update_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[1],
            changes={"status": "at_risk"},
            expected_version=goal.version,
            actor=CSM,
            now=AS_OF - dt.timedelta(days=1),
        )
        plan_goals.update_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[1],
            changes={"description": "no status change"},
            expected_version=goal.version,
            actor=CSM,
            now=AS_OF - dt.timedelta(hours=20),
        )
        plan_goals.verify_goal(
            session,
            account_id="acme",
            plan_id=book.plan_id,
            goal_id=book.goal_ids[0],
            status=None,
            expected_version=None,
            actor=CSM,
            now=AS_OF - dt.timedelta(hours=2),
        )
        session.commit()


def test_the_timeline_interleaves_goal_events_and_pages_across_sources(
    csm: TestClient, book: Book, engine: Engine
) -> None:
    _goal_changes(engine, book)
    with Session(engine) as session:
        whole = timeline_svc.account_timeline(
            session, account_id="acme", filter_in=timeline_svc.TimelineFilter(), cursor=None, limit=100, tz=TZ
        )
        keys = [i.key for i in whole.items]
        assert keys == sorted(keys, reverse=True) and whole.next_cursor is None
        goals = [i.goal for i in whole.items if i.goal is not None]
        assert [(g.action, g.status_after) for g in goals] == [("verify", None), ("status", "at_risk")]
        assert goals[1].goal_title == "Sales team live" and goals[1].status_before == "not_started"
        # Pages of two walk the same items, in the same order, whichever source each came from.
        walked, cursor = [], None
        while True:
            page = timeline_svc.account_timeline(
                session,
                account_id="acme",
                filter_in=timeline_svc.TimelineFilter(),
                cursor=cursor,
                limit=2,
                tz=TZ,
            )
            walked += [i.key for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert walked == keys

    response = csm.get("/accounts/acme/timeline", params={"kind": "goals"}, headers=HX)
    assert [i["source"] for i in response.context["timeline"]] == ["goal", "goal"]  # type: ignore[attr-defined]
    assert "Sales team live" in response.text and "at risk" in response.text.replace("_", " ")


def test_the_timeline_shows_score_changes(csm: TestClient, book: Book, engine: Engine) -> None:
    with Session(engine) as session:
        version = session.exec(select(HealthModelVersion)).first()
        assert version is not None
        acme = session.exec(select(Account).where(Account.external_id == "acme")).one()
        from app.models import ScoreSnapshot

        snaps = session.exec(
            select(ScoreSnapshot).where(ScoreSnapshot.account_id == acme.id).order_by(ScoreSnapshot.day)
        ).all()  # type: ignore[arg-type]
        # Make the second-latest snapshot 30 points lower than the latest: a big move.
        snaps[-2].score = (snaps[-1].score or 0) - 30
        session.add(snaps[-2])
        session.commit()
        latest_day = snaps[-1].day

    response = csm.get("/accounts/acme/timeline", params={"kind": "scores"}, headers=HX)
    items = response.context["timeline"]  # type: ignore[attr-defined]
    assert items and items[0]["source"] == "score" and items[0]["score"].day == latest_day
    assert round(items[0]["score"].change, 1) == 30.0
    assert "Score change" in response.text


def test_a_bad_timeline_cursor_is_refused(csm: TestClient, book: Book) -> None:
    response = csm.get("/accounts/acme/timeline", params={"cursor": "not-a-cursor"}, headers=HX)
    assert response.status_code == 422
