"""Input the database cannot store is a 422 naming the field at every door, never a 500: ids
beyond the column's range, numbers too big for their column, times that leave the calendar once
converted to UTC, and NUL characters (PostgreSQL refuses U+0000 in text and jsonb)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers, assert_problem

HUGE = 99999999999999999999999  # beyond 64 bits
OVER_INT32 = 2**31  # fits SQLite's INTEGER, not PostgreSQL's
ACME = "/api/v1/accounts/acme"
PLANS = f"{ACME}/success-plans"
NOTE = {"account_id": "acme", "type": "note", "occurred_at": "2026-11-20T10:00:00+09:00", "body": "hello"}

#: (method, path, JSON body or None, the location and field the 422 must name)
CASES: list[tuple[str, str, Any, tuple[str, str]]] = [
    ("GET", f"/api/v1/tasks/{HUGE}", None, ("path", "task_id")),
    ("GET", f"/api/v1/tasks/{OVER_INT32}", None, ("path", "task_id")),
    ("POST", f"/api/v1/tasks/{HUGE}/complete", {}, ("path", "task_id")),
    ("GET", f"/api/v1/interactions/{HUGE}", None, ("path", "interaction_id")),
    ("GET", f"{PLANS}/{OVER_INT32}", None, ("path", "plan_id")),
    ("GET", f"{PLANS}/1/goals/{HUGE}", None, ("path", "goal_id")),
    ("PATCH", f"{PLANS}/1/goals/1/steps/{HUGE}", {"done": True}, ("path", "step_id")),
    ("GET", f"{ACME}/contacts/{HUGE}", None, ("path", "contact_id")),
    ("GET", f"/api/v1/playbooks/{HUGE}", None, ("path", "playbook_id")),
    ("GET", f"/api/v1/playbooks/1?version={HUGE}", None, ("query", "version")),
    ("GET", f"/api/v1/playbooks/1?version={OVER_INT32}", None, ("query", "version")),
    ("GET", f"/api/v1/health-models/{HUGE}", None, ("path", "model_id")),
    ("GET", f"/api/v1/opportunities/{HUGE}", None, ("path", "opportunity_id")),
    ("GET", f"/api/v1/adoption-reports/{HUGE}", None, ("path", "report_id")),
    ("DELETE", f"/api/v1/api-keys/{HUGE}", None, ("path", "key_id")),
    (
        "POST",
        "/api/v1/accounts",
        {"id": "big", "name": "Big", "licensed_seats": 1e30},
        ("body", "licensed_seats"),
    ),
    ("PATCH", ACME, {"licensed_seats": OVER_INT32}, ("body", "licensed_seats")),
    ("PATCH", ACME, {"arr": 1e30}, ("body", "arr")),
    ("POST", PLANS, {"title": "P", "customer_owner_id": HUGE}, ("body", "customer_owner_id")),
    (
        "POST",
        "/api/v1/interactions",
        {**NOTE, "occurred_at": "0001-01-01T00:00:01+03:00"},
        ("body", "occurred_at"),
    ),
    (
        "POST",
        "/api/v1/interactions",
        {**NOTE, "occurred_at": "9999-12-31T23:59:59-01:00"},
        ("body", "occurred_at"),
    ),
    (
        "POST",
        "/api/v1/interactions",
        {"data": [NOTE, {**NOTE, "contacts": [HUGE]}]},
        ("body", "data[1].contacts[0]"),
    ),
    (
        "POST",
        "/api/v1/playbooks",
        {"name": "P", "rules": [{"key": "r", "action": "chair_side_session", "assignee": "user",
                                 "assignee_user_id": HUGE}]},
        ("body", "rules[0].assignee_user_id"),
    ),
    ("POST", "/api/v1/accounts", {"id": "n\x00l", "name": "Nul"}, ("body", "id")),
    (
        "POST",
        "/api/v1/accounts",
        {"id": "nul", "name": "Nul", "traits": {"a": ["x", "y\x00"]}},
        ("body", "traits.a[1]"),
    ),
    ("PATCH", ACME, {"traits": {"k\x00": 1}}, ("body", "traits.k\x00")),
    ("POST", "/api/v1/interactions", {"data": [NOTE, {**NOTE, "body": "\x00"}]}, ("body", "data[1].body")),
    ("POST", PLANS, {"title": "Plan\x00"}, ("body", "title")),
    ("GET", "/api/v1/accounts?q=a%00b", None, ("query", "q")),
    ("GET", "/api/v1/accounts?owner=%00", None, ("query", "owner")),
    ("GET", "/api/v1/accounts/a%00b", None, ("path", "account_id")),
    ("GET", "/api/v1/goals?account_id=%00", None, ("query", "account_id")),
]


@pytest.fixture
def seeded(client: TestClient, auth: Any) -> Headers:
    admin: Headers = auth("admin")
    assert (
        client.post("/api/v1/accounts", json={"id": "acme", "name": "Acme"}, headers=admin).status_code == 201
    )
    return admin


@pytest.mark.parametrize(
    ("method", "path", "body", "where"), CASES, ids=[f"{c[0]} {c[1][:60]} {c[3][1]}" for c in CASES]
)
def test_input_the_database_cannot_store_is_a_422_naming_the_field(
    client: TestClient,
    seeded: Headers,
    method: str,
    path: str,
    body: Any,
    where: tuple[str, str],
) -> None:
    response = client.request(method, path, json=body, headers=seeded)

    problem = assert_problem(response, 422)
    named = {(e["location"], e["field"]) for e in problem["errors"]}
    assert where in named, problem


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("nul,Nul\x00 Corp,3", "name"),
        ("big,Big,1e30", "licensed_seats"),
        ("big,Big,3000000000", "licensed_seats"),
    ],
)
def test_csv_rows_the_database_cannot_store_are_named_by_row_and_column(
    client: TestClient, seeded: Headers, row: str, column: str
) -> None:
    csv = f"id,name,licensed_seats\n{row}\n".encode()
    response = client.post(
        "/api/v1/imports/accounts", content=csv, headers={**seeded, "Content-Type": "text/csv"}
    )

    problem = assert_problem(response, 422)
    assert {(e["row"], e["column"]) for e in problem["errors"]} == {(2, column)}
