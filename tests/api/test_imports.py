"""CSV import through the admin API: the raw body is the CSV; the answer is the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers, assert_problem, error_fields

ACCOUNTS = "account_id,name,segment\nacme,Acme,smb\nglobex,Globex,enterprise\n"
WITH_BAD_ROW = "account_id,name,segment,arr\nacme,Acme,smb,1\nbad,Bad,galactic,-1\n"


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return {**auth("admin"), "Content-Type": "text/csv"}


def send(
    client: TestClient, headers: Headers, kind: str, text: str | bytes, **params: Any
) -> Any:
    body = text.encode() if isinstance(text, str) else text
    return client.post(f"/api/v1/imports/{kind}", headers=headers, content=body, params=params)


def listed(client: TestClient, headers: Headers) -> list[str]:
    response = client.get("/api/v1/accounts", headers=headers)
    return sorted(a["id"] for a in response.json()["data"])


def test_import_returns_the_report(client: TestClient, admin: Headers) -> None:
    response = send(client, admin, "accounts", ACCOUNTS)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "accounts", "dry_run": False, "partial": False, "rows": 2, "created": 2,
        "updated": 0, "unchanged": 0, "errors": [], "error_count": 0, "committed": True,
    }
    assert listed(client, admin) == ["acme", "globex"]
    again = send(client, admin, "accounts", ACCOUNTS).json()
    assert (again["created"], again["updated"]) == (0, 2)


def test_bad_rows_are_a_422_problem_carrying_the_report(
    client: TestClient, admin: Headers
) -> None:
    response = send(client, admin, "accounts", WITH_BAD_ROW)

    body = assert_problem(response, 422)
    assert body["type"] == "urn:bansou:problem:import-rejected"
    assert (body["committed"], body["error_count"], body["rows"]) == (False, 2, 2)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "segment"), (3, "arr")]
    assert "row 3" in body["detail"]
    assert listed(client, admin) == []


def test_dry_run_and_partial(client: TestClient, admin: Headers) -> None:
    dry = send(client, admin, "accounts", WITH_BAD_ROW, dry_run="true")
    assert dry.status_code == 200
    assert (dry.json()["committed"], dry.json()["error_count"]) == (False, 2)
    assert listed(client, admin) == []

    partial = send(client, admin, "accounts", WITH_BAD_ROW, partial="true")
    assert partial.status_code == 200
    assert (partial.json()["committed"], partial.json()["created"]) == (True, 1)
    assert listed(client, admin) == ["acme"]


def test_mapping_and_encoding_parameters(client: TestClient, admin: Headers) -> None:
    text = "会社ID,会社名\nsakura,株式会社さくら\n"

    response = send(
        client, admin, "accounts", text.encode("cp932"), encoding="cp932",
        map=["会社ID=id", "会社名=name"],
    )

    assert response.status_code == 200, response.text
    assert listed(client, admin) == ["sakura"]


def test_usage_and_interactions_kinds(client: TestClient, admin: Headers) -> None:
    send(client, admin, "accounts", ACCOUNTS)

    usage = send(client, admin, "usage",
                 "account_id,day,event,count,distinct_users\nacme,2026-11-01,login,3,2\n")
    interactions = send(client, admin, "interactions",
                        "external_id,account_id,type,occurred_at,score\n"
                        "n1,acme,nps_response,2026-11-01T09:00:00Z,8\n")

    assert usage.json()["created"] == 1
    assert interactions.json()["created"] == 1
    listed_interactions = client.get("/api/v1/accounts/acme/interactions", headers=admin).json()
    assert listed_interactions["data"][0]["data"] == {"score": 8}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("planets", {}, "kind"),
        ("accounts", {"encoding": "klingon"}, "encoding"),
        ("accounts", {"map": "no-equals"}, "map"),
    ],
)
def test_bad_parameters_are_422(
    client: TestClient, admin: Headers, path: str, params: dict[str, str], field: str
) -> None:
    assert error_fields(send(client, admin, path, ACCOUNTS, **params)) == {field}


def test_import_needs_an_admin_key(
    client: TestClient, auth: Callable[[str], Headers]
) -> None:
    headers = {**auth("write"), "Content-Type": "text/csv"}

    assert_problem(send(client, headers, "accounts", ACCOUNTS), 403)


def test_bodies_over_the_cap_are_413_use_the_cli(client: TestClient, admin: Headers) -> None:
    big = ACCOUNTS + "x,y,smb\n" * (6 * 1024 * 1024 // 8)

    assert_problem(send(client, admin, "accounts", big), 413)
