"""The weekly list, feedback, rules, stages and signals over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.builders import make_user
from tests.helpers import assert_problem, error_fields

Headers = dict[str, str]


def _setup(client: TestClient, engine: Engine, writer: Headers) -> None:
    with Session(engine) as session:
        make_user(session, email="csm@example.com")
        make_user(session, email="other@example.com")
        session.commit()
    for id, owner in (("a", "csm@example.com"), ("b", "csm@example.com"), ("c", "other@example.com")):
        body = {
            "id": id,
            "name": id.upper(),
            "owner": owner,
            "contract_start_on": "2025-01-01",
            "renewal_on": "2027-03-20",
        }
        assert client.post("/api/v1/accounts", json=body, headers=writer).status_code == 201
    meeting = {
        "account_id": "b",
        "type": "meeting_scheduled",
        "occurred_at": "2026-11-20T01:00:00Z",
        "scheduled_for": "2026-11-30T01:00:00Z",
    }
    assert client.post("/api/v1/interactions", json=meeting, headers=writer).status_code == 201


def test_weekly_list_per_owner_with_breakdown(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers
) -> None:
    _setup(client, engine, writer)

    response = client.get("/api/v1/priorities", params={"owner": "csm@example.com"}, headers=reader)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["week"] == "2026-W48"
    assert body["as_of"] == "2026-11-22T15:00:00Z"
    assert [i["account_id"] for i in body["data"]] == ["a"]
    assert [(i["account_id"], i["suppressed"]) for i in body["suppressed"]] == [
        ("b", {"reason": "meeting_scheduled", "on": "2026-11-30"})
    ]
    row = body["data"][0]
    assert row["rank"] == 1 and row["owner"] == "csm@example.com"
    assert round(sum(f["points"] for f in row["factors"]), 2) == row["total"]
    assert "renewal_window" in row["signals"]
    everyone = client.get("/api/v1/priorities", headers=reader).json()
    assert sorted(i["account_id"] for i in everyone["data"]) == ["a", "c"]


def test_feedback_over_http(client: TestClient, engine: Engine, writer: Headers, reader: Headers) -> None:
    _setup(client, engine, writer)
    item = client.get("/api/v1/priorities", headers=reader).json()["data"][0]
    url = f"/api/v1/priorities/items/{item['id']}/feedback"

    assert error_fields(client.post(url, json={"status": "not_actionable"}, headers=writer)) == {"reason"}
    assert error_fields(client.post(url, json={"status": "maybe"}, headers=writer)) == {"status"}
    assert_problem(client.post(url, json={"status": "done"}, headers=reader), 403)
    assert_problem(
        client.post("/api/v1/priorities/items/999999/feedback", json={"status": "done"}, headers=writer), 404
    )

    done = client.post(
        url,
        json={"status": "not_actionable", "reason": "waiting_on_customer", "text": "legal review"},
        headers=writer,
    )
    assert done.status_code == 200, done.text
    assert done.json()["feedback"]["reason"] == "waiting_on_customer"
    report = client.get("/api/v1/priorities/feedback-report", headers=reader).json()
    assert (report["items"], report["rejected"], report["reasons"]) == (1, 1, {"waiting_on_customer": 1})


def test_week_validation(client: TestClient, reader: Headers) -> None:
    assert error_fields(client.get("/api/v1/priorities", params={"week": "2026-W49"}, headers=reader)) == {
        "week"
    }
    assert error_fields(client.get("/api/v1/priorities", params={"week": "soon"}, headers=reader)) == {"week"}
    assert error_fields(
        client.get("/api/v1/priorities", params={"owner": "nobody@example.com"}, headers=reader)
    ) == {"owner"}


def test_weights_are_versioned_and_previewed(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers, auth: Callable[[str], Headers]
) -> None:
    admin = auth("admin")
    _setup(client, engine, writer)
    assert client.get("/api/v1/rules/priorities", headers=reader).json()["version"] == 0

    preview = client.post(
        "/api/v1/rules/priorities/preview", json={"config": {"health_deficit": 0}}, headers=writer
    )
    assert preview.status_code == 200, preview.text
    rows: list[dict[str, Any]] = preview.json()["data"]
    assert all(r["after_total"] < r["before_total"] for r in rows)

    assert_problem(client.put("/api/v1/rules/priorities", json={"config": {}}, headers=writer), 403)
    assert error_fields(
        client.put("/api/v1/rules/priorities", json={"config": {"top_n": 0}}, headers=admin)
    ) == {"config"}
    saved = client.put(
        "/api/v1/rules/priorities", json={"config": {"top_n": 3}, "note": "fewer"}, headers=admin
    )
    assert saved.status_code == 200 and saved.json()["version"] == 1
    stale = client.put("/api/v1/rules/priorities", json={"config": {}, "expected_version": 0}, headers=admin)
    assert_problem(stale, 409)
    assert [v["version"] for v in client.get("/api/v1/rules/priorities/versions", headers=reader).json()] == [
        1
    ]

    recomputed = client.post("/api/v1/priorities/recompute", headers=admin)
    assert recomputed.status_code == 200 and recomputed.json()["weights_version"] == 1


def test_stages_and_signals_over_http(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers, auth: Callable[[str], Headers]
) -> None:
    _setup(client, engine, writer)
    rating = client.post(
        "/api/v1/accounts/a/champion-rating", json={"rating": 5, "comment": "keen"}, headers=writer
    )
    assert rating.status_code == 201, rating.text
    assert error_fields(
        client.post("/api/v1/accounts/a/champion-rating", json={"rating": 9}, headers=writer)
    ) == {"rating"}
    assert client.get("/api/v1/accounts/a/stage", headers=reader).json()["stage"] is None

    run = client.post("/api/v1/stages/recompute", headers=auth("admin"))
    assert run.status_code == 200 and run.json()["accounts"] == 3

    stage = client.get("/api/v1/accounts/a/stage", headers=reader).json()
    assert stage["stage"] == "rescue"  # only the champion indicator holds
    assert [i["key"] for i in stage["indicators"] if i["met"]] == ["champion"]
    assert stage["history"] == [{"previous": None, "stage": "rescue", "changed_on": "2026-11-23"}]
    listed = client.get("/api/v1/stages", params={"stage": "mogura", "limit": 1}, headers=reader).json()
    assert listed["counts"] == {"success": 0, "growth": 0, "rescue": 1, "mogura": 2}
    assert len(listed["data"]) == 1 and listed["next_cursor"]
    page2 = client.get(
        "/api/v1/stages",
        params={"stage": "mogura", "limit": 1, "cursor": listed["next_cursor"]},
        headers=reader,
    ).json()
    assert page2["data"][0]["account_id"] != listed["data"][0]["account_id"]
    assert error_fields(client.get("/api/v1/stages", params={"stage": "bliss"}, headers=reader)) == {"stage"}

    signals = client.get("/api/v1/accounts/a/signals", headers=reader).json()["data"]
    assert {s["kind"] for s in signals} >= {"renewal_window", "no_meeting"}
    by_kind = client.get("/api/v1/signals", params={"kind": "renewal_window"}, headers=reader).json()["data"]
    assert sorted(s["account_id"] for s in by_kind) == ["a", "b", "c"]
    assert error_fields(client.get("/api/v1/signals", params={"kind": "doom"}, headers=reader)) == {"kind"}
