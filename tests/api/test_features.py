import datetime as dt

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.ingest.rollups import UsageRow, add_usage
from tests.builders import AS_OF, make_account


def _feature(client: TestClient, headers: dict[str, str], key: str, patterns: list[str],
             is_key: bool = False) -> None:
    response = client.post(
        "/api/v1/features",
        json={"key": key, "name": key.title(), "patterns": patterns, "is_key": is_key},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def test_catalog_crud(client: TestClient, auth) -> None:
    admin = auth("admin")
    _feature(client, admin, "reports", ["Report Created", "report.*"], is_key=True)
    duplicate = client.post(
        "/api/v1/features", json={"key": "reports", "name": "R", "patterns": ["x"]}, headers=admin
    )
    assert duplicate.status_code == 409
    bad = client.post(
        "/api/v1/features", json={"key": "Bad Key", "name": "", "patterns": []}, headers=admin
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"key", "name", "patterns"}

    patched = client.patch("/api/v1/features/reports", json={"is_key": False}, headers=admin)
    assert patched.status_code == 200
    assert patched.json()["is_key"] is False
    assert patched.json()["patterns"] == ["Report Created", "report.*"]

    listed = client.get("/api/v1/features", headers=auth("read")).json()["data"]
    assert [f["key"] for f in listed] == ["reports"]
    assert client.post(
        "/api/v1/features", json={"key": "x", "name": "X", "patterns": ["x"]}, headers=auth("write")
    ).status_code == 403
    assert client.delete("/api/v1/features/reports", headers=admin).status_code == 204
    assert client.delete("/api/v1/features/reports", headers=admin).status_code == 404


def test_account_feature_usage_lists_unused_key_features(
    client: TestClient, auth, session: Session
) -> None:
    admin = auth("admin")
    _feature(client, admin, "reports", ["Report Created", "report.*"], is_key=True)
    _feature(client, admin, "dashboards", ["Dashboard Viewed"], is_key=True)
    _feature(client, admin, "export", ["Export *"])
    account = make_account(session)
    session.commit()
    assert account.id is not None
    day = dt.date(2026, 11, 20)
    at = dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC)
    add_usage(session, [
        UsageRow(account.id, day, "Report Created", "u1", at),
        UsageRow(account.id, day, "report.viewed", "u2", at),
        UsageRow(account.id, day + dt.timedelta(days=1), "Report Created", "u1", at),
        UsageRow(account.id, day, "Login", "u1", at),
    ], AS_OF)
    session.commit()

    body = client.get(
        "/api/v1/accounts/acme/features?from=2026-11-01&to=2026-11-23", headers=auth("read")
    ).json()
    by_key = {row["key"]: row for row in body["data"]}
    assert body["key_features_used"] == 1
    assert body["key_features_total"] == 2
    assert by_key["reports"]["event_count"] == 3
    assert by_key["reports"]["active_days"] == 2
    assert by_key["reports"]["max_daily_users"] == 1
    assert by_key["dashboards"]["used"] is False
    assert by_key[None]["events"] == {"Login": 1}
    # Key features come first.
    assert [row["key"] for row in body["data"]][:2] == ["dashboards", "reports"]
