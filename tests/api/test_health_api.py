"""Health scores and models over the API, on a small hand-built book of business."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.ingest.rollups import UsageRow, add_usage
from app.usage import features as features_svc
from tests.builders import AS_OF, make_account, make_contact, make_interaction, make_user

TODAY = AS_OF.date()


def _usage(session: Session, account_id: int, days: range, users: int, events: dict[str, int]) -> None:
    rows = []
    for offset in days:
        day = TODAY - dt.timedelta(days=offset)
        at = dt.datetime.combine(day, dt.time(3), tzinfo=dt.UTC)
        for event, count in events.items():
            for i in range(count):
                rows.append(UsageRow(account_id, day, event, f"{account_id}-u{i % users}", at))
    add_usage(session, rows, AS_OF)


@pytest.fixture
def book(session: Session) -> dict[str, int]:
    """Two accounts: a thriving one and a struggling one, with the demo-like catalog."""
    make_user(session, email="csm@example.com")
    for key, patterns in (("reports", ["Report Created"]), ("dashboards", ["Dashboard Viewed"]),
                          ("automation", ["workflow.*"])):
        features_svc.create_feature(
            session, feature_in=features_svc.FeatureIn(key=key, name=key, patterns=patterns,
                                                       is_key=True), now=AS_OF,
        )
    good = make_account(session, id="good", name="Thriving KK", licensed_seats=10,
                        owner="csm@example.com", contract_start_on=dt.date(2025, 1, 1))
    poor = make_account(session, id="poor", name="Struggling KK", licensed_seats=50,
                        contract_start_on=dt.date(2025, 1, 1))
    make_contact(session, account_id="good", name="Champion", is_champion=True)
    make_contact(session, account_id="poor", name="Someone")
    assert good.id and poor.id
    _usage(session, good.id, range(0, 30), users=8,
           events={"Report Created": 3, "Dashboard Viewed": 8, "workflow.run": 2})
    _usage(session, poor.id, range(0, 30, 6), users=2, events={"Dashboard Viewed": 1})
    make_interaction(session, account=good, type="meeting",
                     occurred_at=AS_OF - dt.timedelta(days=10))
    make_interaction(session, account=good, type="nps_response",
                     occurred_at=AS_OF - dt.timedelta(days=20), score=10)
    make_interaction(session, account=poor, type="nps_response",
                     occurred_at=AS_OF - dt.timedelta(days=20), score=3)
    for days in (5, 40, 70):
        make_interaction(session, account=good, type="webinar",
                         occurred_at=AS_OF - dt.timedelta(days=days))
    session.commit()
    return {"good": good.id, "poor": poor.id}


def _adopt(client: TestClient, headers: dict[str, str], preset: str) -> dict:
    response = client.post("/api/v1/health-models", json={"preset": preset}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_abc_health_explains_every_point(client: TestClient, auth, book) -> None:
    admin = auth("admin")
    model = _adopt(client, admin, "abc")
    assert model["is_default"] and model["published_version"] == 1

    good = client.get("/api/v1/accounts/good/health", headers=auth("read")).json()
    poor = client.get("/api/v1/accounts/poor/health", headers=auth("read")).json()
    assert good["model"] == {"id": model["id"], "name": "ABC health", "version": 1}
    assert good["scale"] == {"min": 0, "max": 100}
    assert good["score"] > poor["score"]
    for body in (good, poor):
        measures = [m for g in body["groups"] for m in g["measures"]]
        assert len(measures) == 9
        assert round(sum(m["contribution"] for m in measures), 2) == body["score"]
    by_key = {m["key"]: m for g in good["groups"] for m in g["measures"]}
    assert by_key["seat_activation"]["value"] == pytest.approx(0.8)  # 8 users / 10 seats
    assert by_key["active_days"]["value"] == 30
    assert by_key["key_features"]["value"] == 3
    assert by_key["last_meeting"]["value"] == 10
    assert by_key["nps"]["value"] == 10
    assert by_key["champion"]["value"] == 1
    assert by_key["webinars"]["value"] == 3  # 5, 40 and 70 days ago: all within 90
    poor_measures = {m["key"]: m for g in poor["groups"] for m in g["measures"]}
    assert poor_measures["last_meeting"]["status"] == "missing"
    assert poor_measures["last_meeting"]["grade"] == "bad"  # missing → bad for this measure
    assert poor_measures["seat_activation"]["next_step"]["target"] == "normal"
    assert poor_measures["seat_activation"]["next_step"]["value_needed"] == 0.3


def test_history_bulk_and_version_marks(client: TestClient, auth, book, app, session) -> None:
    from app.health import snapshots as health_snapshots

    admin = auth("admin")
    model = _adopt(client, admin, "minimal")
    for offset in (14, 7, 0):
        day = TODAY - dt.timedelta(days=offset)
        health_snapshots.run_scoring(session, as_of=day, tz=dt.UTC, now=AS_OF)
    session.commit()

    history = client.get("/api/v1/accounts/good/health/history?from=2026-11-01",
                         headers=auth("read")).json()
    assert [p["day"] for p in history["data"]] == ["2026-11-09", "2026-11-16", "2026-11-23"]
    assert history["versions"][0]["version"] == 1
    current = client.get("/api/v1/accounts/good/health", headers=auth("read")).json()
    assert current["live"] is False and current["change_7d"] is not None
    activation = current["groups"][0]["measures"][0]
    assert activation["key"] == "seat_activation"
    assert activation["value_change_7d"] == pytest.approx(0.0)
    assert activation["contribution_change_30d"] is None  # no snapshot 30 days back

    # A new version: draft, publish, and history marks the change.
    definition = model["versions"][0]["definition"]
    definition["band_good"] = 90
    saved = client.put(f"/api/v1/health-models/{model['id']}/draft",
                       json={"definition": definition}, headers=admin)
    assert saved.status_code == 200 and saved.json()["draft_version"] == 2
    published = client.post(f"/api/v1/health-models/{model['id']}/versions/2/publish",
                            headers=admin)
    assert published.json()["published_version"] == 2
    again = client.post(f"/api/v1/health-models/{model['id']}/versions/2/publish", headers=admin)
    assert again.status_code == 409
    health_snapshots.run_scoring(session, as_of=TODAY, tz=dt.UTC, now=AS_OF)
    session.commit()
    history = client.get("/api/v1/accounts/good/health/history?from=2026-11-01",
                         headers=auth("read")).json()
    assert history["data"][-1]["model_version"] == 2
    assert [v["version"] for v in history["versions"]] == [1, 2]

    bulk = client.get("/api/v1/health?limit=1", headers=auth("read")).json()
    assert bulk["model"]["version"] == 2
    assert len(bulk["data"]) == 1 and bulk["next_cursor"]
    rest = client.get(f"/api/v1/health?limit=1&cursor={bulk['next_cursor']}",
                      headers=auth("read")).json()
    assert {bulk["data"][0]["account_id"], rest["data"][0]["account_id"]} == {"good", "poor"}
    assert rest["next_cursor"] is None
    bad_only = client.get("/api/v1/health?band=bad", headers=auth("read")).json()["data"]
    assert [r["account_id"] for r in bad_only] == ["poor"]


def test_definition_errors_name_the_field(client: TestClient, auth) -> None:
    bad = {"groups": [{"key": "g", "name": "G", "measures": [{
        "key": "m", "name": "M", "source": {"type": "usage", "metric": "nope"},
        "grading": {"kind": "thresholds", "good": 1, "normal": 5},
    }]}]}
    response = client.post("/api/v1/health-models", json={"name": "X", "definition": bad},
                           headers=auth("admin"))
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith("definition.groups[0].measures[0].source") for f in fields)
    bad["groups"][0]["measures"][0]["source"] = {"type": "usage", "metric": "events"}
    response = client.post("/api/v1/health-models", json={"name": "X", "definition": bad},
                           headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "definition.groups[0].measures[0].grading"
    assert client.post("/api/v1/health-models", json={"preset": "abc"},
                       headers=auth("write")).status_code == 403


def test_preview_and_backtest(client: TestClient, auth, book, session) -> None:
    model = _adopt(client, auth("admin"), "abc")
    strict = model["versions"][0]["definition"]
    strict["band_good"] = 99
    preview = client.post(f"/api/v1/health-models/{model['id']}/preview",
                          json={"definition": strict}, headers=auth("read")).json()
    assert preview["accounts"] == 2
    assert sum(preview["bands_after"].values()) == 2
    assert preview["bands_after"].get("good", 0) <= preview["bands_before"].get("good", 0)

    backtest = client.post(f"/api/v1/health-models/{model['id']}/backtest",
                           json={"start": "2026-10-01", "end": "2026-11-01", "step_days": 10},
                           headers=auth("read"))
    assert backtest.status_code == 200, backtest.text
    body = backtest.json()
    assert body["reference_dates"] == ["2026-10-02", "2026-10-12", "2026-10-22", "2026-11-01"]
    assert body["churned"] == 0 and body["auc"] is None
    assert "not enough outcomes" in body["summary"]


def test_key_feature_status_and_sentiment(client: TestClient, auth, book, session) -> None:
    model = _adopt(client, auth("admin"), "key_features")
    body = client.get(f"/api/v1/accounts/poor/health?model={model['id']}",
                      headers=auth("read")).json()
    # "poor" never used reports/automation (bad all three months) → [3bad]
    assert body["status"] == "3bad"
    good = client.get(f"/api/v1/accounts/good/health?model={model['id']}",
                      headers=auth("read")).json()
    assert good["status"] in {"normal", "1bad", "2bad", "3bad"}

    rated = client.post("/api/v1/accounts/good/sentiment", json={"rating": 6},
                        headers=auth("write"))
    assert rated.status_code == 422 and rated.json()["errors"][0]["field"] == "rating"
    rated = client.post("/api/v1/accounts/good/sentiment",
                        json={"rating": 4, "comment": "会議で前向き"}, headers=auth("write"))
    assert rated.status_code == 201


def test_new_interactions_and_pushed_usage_queue_the_account_for_rescoring(
    client: TestClient, auth, session: Session, engine, settings
) -> None:
    from app.health import score_queue
    from app.scheduler import rescore_dirty_job

    account = make_account(session, id="acme", licensed_seats=5)
    session.commit()
    _adopt(client, auth("admin"), "minimal")

    def queued() -> list[int]:
        session.rollback()  # end the read snapshot: see what the requests committed
        return score_queue.dirty_accounts(session)

    assert queued() == []

    meeting = client.post("/api/v1/interactions", headers=auth("write"), json={
        "account_id": "acme", "type": "meeting", "occurred_at": "2026-11-20T02:00:00Z",
    })
    assert meeting.status_code == 201, meeting.text
    assert queued() == [account.id]

    ran = rescore_dirty_job(engine, settings, AS_OF)
    assert ran["accounts"] == 1
    assert queued() == []
    body = client.get("/api/v1/accounts/acme/health", headers=auth("read")).json()
    assert body["live"] is False
    last_meeting = {m["key"]: m for g in body["groups"] for m in g["measures"]}["last_meeting"]
    assert last_meeting["value"] == 3

    pushed = client.post("/api/v1/usage", headers=auth("write"), json={"data": [
        {"account_id": "acme", "day": "2026-11-22", "event": "Login", "count": 4,
         "distinct_users": 2},
    ]})
    assert pushed.status_code == 200, pushed.text
    assert queued() == [account.id]


@pytest.mark.parametrize("preset", ["abc", "adoption", "key_features", "minimal"])
def test_a_stored_score_is_served_exactly_as_computed(
    client: TestClient, auth, book, session, preset: str
) -> None:
    """Snapshots keep the values, and the explanation is rebuilt when read: the response from
    a snapshot is the response computed live, to the byte."""
    from app.health import snapshots as health_snapshots

    _adopt(client, auth("admin"), preset)
    live = {name: client.get(f"/api/v1/accounts/{name}/health", headers=auth("read"))
            for name in ("good", "poor")}
    health_snapshots.run_scoring(session, as_of=TODAY, tz=dt.UTC, now=AS_OF)
    session.commit()

    for name, computed in live.items():
        stored = client.get(f"/api/v1/accounts/{name}/health", headers=auth("read"))
        assert computed.json()["live"] is True and stored.json()["live"] is False
        assert stored.content == computed.content.replace(b'"live":true', b'"live":false')
        body = stored.json()
        contributions = [m["contribution"] for g in body["groups"] for m in g["measures"]]
        assert round(sum(contributions), 2) == body["score"]
