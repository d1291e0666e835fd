"""Calibration end to end through the API: a draft fitted to the demo book's history, validated
out of time against the version it started from, never published by itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.health import models as health_models
from tests.churn_book import load_churn_book
from tests.conftest import AS_OF, DatabaseFactory

TOKYO = ZoneInfo("Asia/Tokyo")
#: The worker of the browser tests builds and uses the churn book (once per engine): one build.
pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def churn_book(databases: DatabaseFactory, engine: Engine) -> None:
    databases.load(engine, load_churn_book)


def _model(session: Session, preset: str) -> int:
    found = next(m for m in health_models.list_models(session) if m.preset == preset)
    assert found.id is not None
    return found.id


def test_calibrate_proposes_a_draft_validated_out_of_time(
    client: TestClient, auth: Callable[[str], dict[str, str]], session: Session, churn_book: None
) -> None:
    abc = _model(session, "abc")
    published = health_models.published_version(session, abc)
    assert published is not None

    answer = client.post(f"/api/v1/health-models/{abc}/calibrate", json={}, headers=auth("admin"))

    assert answer.status_code == 201, answer.text
    body = answer.json()
    report = body["report"]
    protocol = report["protocol"]
    assert protocol["horizon_days"] == 90 and protocol["cadence_days"] == 14
    train = [dt.date.fromisoformat(d) for d in protocol["train_dates"]]
    test = [dt.date.fromisoformat(d) for d in protocol["test_dates"]]
    assert train and test and max(train) < min(test)
    if protocol["gap"]:
        assert all(d + dt.timedelta(days=90) <= min(test) for d in train)
    assert max(test) + dt.timedelta(days=90) <= AS_OF.astimezone(TOKYO).date()
    before, after = report["before"], report["after"]
    assert before["observations"] == after["observations"] > 0
    # Never worse than the version it starts from, on the same out-of-time dates.
    assert after["auc"] >= before["auc"]
    assert after["auc_low"] <= after["auc"] <= after["auc_high"]
    assert after["brier"] is not None and after["brier_base_rate"] is not None
    assert [h["horizon_days"] for h in report["horizons"]] == [30, 60, 90, 180]
    assert report["baseline_auc"] is not None
    assert {m["key"] for m in report["proposal"]["measures"]} == {
        m["key"] for g in published.definition["groups"] for m in g["measures"]
    }
    assert all(m["verdict"] in {"signal", "no_signal", "wrong_way"} for m in report["proposal"]["measures"])

    # Nothing is published: the proposal waits as a draft.
    session.expire_all()
    assert health_models.published_version(session, abc).version == published.version  # type: ignore[union-attr]
    # On this book the thresholds and weights are kept but the band cut-offs move: still a
    # proposal, waiting as the next version's draft with exactly the proposed cut-offs.
    proposal = report["proposal"]
    assert (proposal["band_good_after"], proposal["band_normal_after"]) != (
        proposal["band_good_before"],
        proposal["band_normal_before"],
    )
    assert body["draft_version"] == published.version + 1
    session.rollback()  # a new read transaction: the API's commit is visible
    draft = health_models.get_version(session, abc, body["draft_version"])
    assert draft.state == "draft"
    assert (draft.definition["band_good"], draft.definition["band_normal"]) == (
        proposal["band_good_after"],
        proposal["band_normal_after"],
    )
    assert (
        draft.definition["groups"][0]["measures"][0]["source"]
        == (published.definition["groups"][0]["measures"][0]["source"])
    )
    listed = client.get(f"/api/v1/health-models/{abc}/calibrations", headers=auth("read")).json()
    assert [c["id"] for c in listed] == [body["id"]]
    again = client.get(f"/api/v1/health-models/{abc}/calibrations/{body['id']}", headers=auth("read"))
    assert again.json()["report"] == report
    assert (
        client.get(f"/api/v1/health-models/{abc}/calibrations/999999", headers=auth("read")).status_code
        == 404
    )


def test_calibrating_needs_an_admin_key_and_a_history(
    client: TestClient, auth: Callable[[str], dict[str, str]], session: Session
) -> None:
    health_models.adopt_preset(session, preset="abc", now=AS_OF)
    session.commit()
    abc = _model(session, "abc")

    assert (
        client.post(f"/api/v1/health-models/{abc}/calibrate", json={}, headers=auth("write")).status_code
        == 403
    )
    empty = client.post(f"/api/v1/health-models/{abc}/calibrate", json={}, headers=auth("admin"))
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    assert empty.json()["errors"][0]["field"] == "horizon_days"
    bad = client.post(
        f"/api/v1/health-models/{abc}/calibrate", json={"horizon_days": 5, "extra": 1}, headers=auth("admin")
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"horizon_days", "extra"}


def test_a_backtest_states_its_protocol_and_judges_out_of_time(
    client: TestClient, auth: Callable[[str], dict[str, str]], session: Session, churn_book: None
) -> None:
    minimal = _model(session, "minimal")

    body = client.post(f"/api/v1/health-models/{minimal}/backtest", json={}, headers=auth("read")).json()

    assert body["horizon_days"] == 90
    validation = body["validation"]
    assert validation["protocol"]["test_dates"]
    assert validation["evaluation"]["auc"] is not None
    assert [h["horizon_days"] for h in validation["horizons"]] == [30, 60, 90, 180]
    # The longer the horizon, the fewer dates have a known outcome.
    dates = [h["train_dates"] + h["test_dates"] for h in validation["horizons"]]
    assert dates == sorted(dates, reverse=True)
