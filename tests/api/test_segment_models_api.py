"""Models per segment over the API: the ordered rules, read with any key and replaced with an
admin key; an account's primary model and why; health and bulk health under it."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.health import models as health_models
from app.health import snapshots
from tests.builders import AS_OF, make_account
from tests.helpers import assert_problem, error_fields

URL = "/api/v1/health-model-assignments"
Headers = dict[str, str]


@pytest.fixture
def models(session: Session) -> dict[str, int]:
    abc, _ = health_models.adopt_preset(session, preset="abc", now=AS_OF)
    adoption, _ = health_models.adopt_preset(session, preset="adoption", now=AS_OF)
    make_account(session, id="big", name="Big KK", segment="enterprise", contract_start_on=AS_OF.date())
    make_account(session, id="small", name="Small KK", segment="smb", contract_start_on=AS_OF.date())
    snapshots.run_scoring(session, as_of=AS_OF.date(), tz=ZoneInfo("UTC"), now=AS_OF)
    session.commit()
    return {"abc": abc.id or 0, "adoption": adoption.id or 0}


def test_rules_are_replaced_and_read(
    client: TestClient, auth: Callable[[str], Headers], models: dict[str, int]
) -> None:
    reader = auth("read")
    empty = client.get(URL, headers=reader)
    assert empty.status_code == 200
    assert empty.json() == {"default_model": {"id": models["abc"], "name": "ABC health"}, "assignments": []}
    body = {
        "assignments": [
            {"model_id": models["adoption"], "rule": "segment", "values": ["enterprise"]},
            {"model_id": models["adoption"], "rule": "arr_at_least", "amount": 1000000},
        ]
    }
    assert_problem(client.put(URL, headers=reader, json=body), 403)
    assert_problem(client.put(URL, headers=auth("write"), json=body), 403)
    saved = client.put(URL, headers=auth("admin"), json=body)
    assert saved.status_code == 200, saved.text
    rules = saved.json()["assignments"]
    assert [(r["position"], r["rule"], r["model"]["id"]) for r in rules] == [
        (1, "segment", models["adoption"]),
        (2, "arr_at_least", models["adoption"]),
    ]
    assert rules[0]["values"] == ["enterprise"] and rules[1]["amount"] == 1000000.0
    assert client.get(URL, headers=reader).json() == saved.json()

    why = client.get("/api/v1/accounts/big/health-model", headers=reader).json()
    assert why["id"] == models["adoption"] and why["rule"]["position"] == 1
    default = client.get("/api/v1/accounts/small/health-model", headers=reader).json()
    assert default == {"id": models["abc"], "name": "ABC health", "rule": None}
    assert_problem(client.get("/api/v1/accounts/nobody/health-model", headers=reader), 404)

    health = client.get("/api/v1/accounts/big/health", headers=reader).json()
    assert health["model"]["id"] == models["adoption"] and health["scale"]["max"] == 4
    assert client.get("/api/v1/accounts/small/health", headers=reader).json()["model"]["id"] == models["abc"]
    bulk = client.get("/api/v1/health", headers=reader).json()
    assert {item["account_id"]: item["model"]["id"] for item in bulk["data"]} == {
        "big": models["adoption"],
        "small": models["abc"],
    }
    asked = client.get(f"/api/v1/health?model={models['abc']}", headers=reader).json()
    assert all(item["model"] is None for item in asked["data"]) and len(asked["data"]) == 2

    cleared = client.put(URL, headers=auth("admin"), json={"assignments": []})
    assert cleared.json()["assignments"] == []
    assert client.get("/api/v1/accounts/big/health", headers=reader).json()["model"]["id"] == models["abc"]


def test_bad_rules_are_problems_naming_the_field(
    client: TestClient, auth: Callable[[str], Headers], models: dict[str, int]
) -> None:
    admin = auth("admin")
    assert error_fields(
        client.put(
            URL,
            headers=admin,
            json={
                "assignments": [
                    {"model_id": models["adoption"], "rule": "segment", "values": ["galactic"]},
                    {"model_id": 999999, "rule": "plan", "values": ["pro"]},
                    {"model_id": models["adoption"], "rule": "arr_below"},
                ]
            },
        )
    ) == {"assignments.0.values.0", "assignments.1.model_id", "assignments.2.amount"}
    assert "assignments.0.rule" in error_fields(
        client.put(
            URL,
            headers=admin,
            json={
                "assignments": [
                    {"model_id": models["adoption"], "rule": "colour", "values": ["red"]},
                ]
            },
        )
    )
    assert "assignments.0.key" in error_fields(
        client.put(
            URL,
            headers=admin,
            json={
                "assignments": [
                    {"model_id": models["adoption"], "rule": "trait", "key": "a.b", "values": ["x"]},
                ]
            },
        )
    )
    assert client.get(URL, headers=admin).json()["assignments"] == []
