"""Success plans over HTTP: ETags and If-Match, history, validation, templates, goals list."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.builders import make_user, post_account
from tests.conftest import AS_OF
from tests.helpers import assert_problem, error_fields, walk

Headers = dict[str, str]
BASE = "/api/v1/accounts/acme/success-plans"


_account = partial(post_account, segment="smb")


def _plan(client: TestClient, writer: Headers, account: str = "acme", **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/accounts/{account}/success-plans",
                           json={"title": "Onboarding", **fields}, headers=writer)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["ETag"] == f'"plan-{body["id"]}-v1"'
    return body


def _goal(client: TestClient, writer: Headers, plan: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"title": "Team live", "kind": "qualitative", "success_criterion": "Everyone uses it",
            **fields}
    response = client.post(
        f"/api/v1/accounts/{plan['account_id']}/success-plans/{plan['id']}/goals",
        json=body, headers=writer,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_get_returns_an_etag_and_the_plan_with_its_goals(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    goal = _goal(client, writer, plan)

    response = client.get(f"{BASE}/{plan['id']}", headers=reader)

    assert response.status_code == 200
    assert response.headers["ETag"] == f'"plan-{plan["id"]}-v1"'
    assert [g["id"] for g in response.json()["goals"]] == [goal["id"]]
    goal_response = client.get(f"{BASE}/{plan['id']}/goals/{goal['id']}", headers=reader)
    assert goal_response.headers["ETag"] == f'"goal-{goal["id"]}-v1"'


def test_two_clients_with_the_same_etag_exactly_one_wins(
    client: TestClient, writer: Headers, auth: Any
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    url = f"{BASE}/{plan['id']}"
    alice, bob = auth("write"), auth("write")
    tag_a = client.get(url, headers=alice).headers["ETag"]
    tag_b = client.get(url, headers=bob).headers["ETag"]
    assert tag_a == tag_b

    first = client.patch(url, json={"title": "Alice's"}, headers={**alice, "If-Match": tag_a})
    second = client.patch(url, json={"title": "Bob's"}, headers={**bob, "If-Match": tag_b})

    assert first.status_code == 200
    assert first.headers["ETag"] == f'"plan-{plan["id"]}-v2"'
    body = assert_problem(second, 412)
    assert body["current"]["title"] == "Alice's"
    assert body["etag"] == second.headers["ETag"] == first.headers["ETag"]
    assert client.get(url, headers=bob).json()["title"] == "Alice's"
    retry = client.patch(url, json={"title": "Bob's"}, headers={**bob, "If-Match": body["etag"]})
    assert retry.status_code == 200


def test_updates_and_deletes_without_if_match_are_428(
    client: TestClient, writer: Headers
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    goal = _goal(client, writer, plan)
    goal_url = f"{BASE}/{plan['id']}/goals/{goal['id']}"
    step = client.post(f"{goal_url}/steps", json={"title": "Kick-off"}, headers=writer).json()

    for method, url in [
        ("PATCH", f"{BASE}/{plan['id']}"), ("DELETE", f"{BASE}/{plan['id']}"),
        ("PATCH", goal_url), ("DELETE", goal_url),
        ("PATCH", f"{goal_url}/steps/{step['id']}"), ("DELETE", f"{goal_url}/steps/{step['id']}"),
    ]:
        response = client.request(method, url, json={} if method == "PATCH" else None,
                                   headers=writer)
        body = assert_problem(response, 428)
        assert body["errors"][0]["field"] == "If-Match"
        assert "If-Match" in body["detail"]


def test_an_etag_of_another_resource_is_stale(client: TestClient, writer: Headers) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    goal = _goal(client, writer, plan)

    response = client.patch(f"{BASE}/{plan['id']}/goals/{goal['id']}", json={"title": "x"},
                            headers={**writer, "If-Match": f'"plan-{plan["id"]}-v1"'})

    assert assert_problem(response, 412)["current"]["title"] == "Team live"


def test_target_on_a_qualitative_goal_is_a_422_naming_it(
    client: TestClient, writer: Headers
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)

    response = client.post(f"{BASE}/{plan['id']}/goals", headers=writer, json={
        "title": "Happy", "kind": "qualitative", "success_criterion": "Says so", "target": 10,
    })

    assert error_fields(response) == {"target"}
    unknown_metric = client.post(f"{BASE}/{plan['id']}/goals", headers=writer, json={
        "title": "Users", "kind": "quantitative", "target": 10,
        "metric_source": {"metric": "daily_magic"},
    })
    assert error_fields(unknown_metric) == {"metric_source.metric"}
    bad_dates = client.post(BASE, headers=writer, json={
        "title": "P", "start_on": "2026-12-01", "target_on": "2026-11-01",
    })
    assert error_fields(bad_dates) == {"target_on"}


def test_every_change_is_in_the_history_with_before_and_after(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    goal = _goal(client, writer, plan)
    goal_url = f"{BASE}/{plan['id']}/goals/{goal['id']}"
    step = client.post(f"{goal_url}/steps", json={"title": "Kick-off"}, headers=writer)
    step_url = f"{goal_url}/steps/{step.json()['id']}"
    done = client.patch(step_url, json={"done": True},
                        headers={**writer, "If-Match": step.headers["ETag"]})
    assert done.status_code == 200 and done.json()["done_at"] is not None
    verified = client.post(f"{goal_url}/verify", json={"status": "on_track"}, headers=writer)
    assert verified.json()["last_verified_at"] == AS_OF.isoformat().replace("+00:00", "Z")
    assert verified.json()["last_verified_by"] == "test-write"
    assert client.delete(step_url, headers={**writer, "If-Match": done.headers["ETag"]}
                         ).status_code == 204

    history = walk(client, f"{BASE}/{plan['id']}/history", reader, limit=2)

    assert [(h["entity_type"], h["action"]) for h in history] == [
        ("plan", "create"), ("goal", "create"), ("step", "create"), ("step", "update"),
        ("goal", "verify"), ("step", "delete"),
    ]
    assert {h["actor"] for h in history} == {"test-write"}
    update = history[3]
    assert update["before"] == {"done": False, "done_at": None, "version": 1}
    assert update["after"]["done"] is True and update["after"]["version"] == 2
    assert history[4]["before"]["status"] == "not_started"
    assert history[4]["after"]["status"] == "on_track"
    assert history[5]["after"] is None and history[5]["before"]["title"] == "Kick-off"


def test_deleting_a_plan_needs_its_etag_and_keeps_history(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    plan = _plan(client, writer)
    url = f"{BASE}/{plan['id']}"

    assert client.delete(url, headers={**writer, "If-Match": f'"plan-{plan["id"]}-v1"'}
                         ).status_code == 204

    assert_problem(client.get(url, headers=reader), 404)
    actions = [h["action"] for h in client.get(f"{url}/history", headers=reader).json()["data"]]
    assert actions == ["create", "delete"]


def test_reads_need_read_scope_and_writes_write_scope(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)

    assert_problem(client.post(BASE, json={"title": "P"}, headers=reader), 403)
    assert_problem(client.get(BASE), 401)


def test_one_active_plan_per_account(client: TestClient, writer: Headers) -> None:
    _account(client, writer)
    first = _plan(client, writer, status="active")

    body = assert_problem(client.post(BASE, json={"title": "Two", "status": "active"},
                                      headers=writer), 409)

    assert body["active_plan_id"] == first["id"]


def test_templates_are_listed_and_start_a_plan(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer, licensed_seats=10)

    templates = client.get("/api/v1/plan-templates", headers=reader).json()
    response = client.post(f"{BASE}/from-template", json={"template": "smb_onboarding"},
                           headers=writer)

    assert {t["segment"] for t in templates} == {"smb", "mid_market", "enterprise"}
    assert "SMB onboarding (3 goals)" in {t["name"] for t in templates}
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["ETag"] == f'"plan-{plan["id"]}-v1"'
    assert (plan["status"], plan["template"], len(plan["goals"])) == (
        "active", "smb_onboarding", 3
    )
    assert plan["goals"][0]["metric_source"] == {"metric": "weekly_active_users"}
    assert plan["goals"][0]["target"] == 6
    assert all(g["steps"] for g in plan["goals"])
    unknown = client.post(f"{BASE}/from-template", json={"template": "x"}, headers=writer)
    assert error_fields(unknown) == {"template"}


def test_goals_across_accounts_filter_by_status_owner_and_verification(
    client: TestClient, writer: Headers, reader: Headers, app: Any, engine: Engine
) -> None:
    with Session(engine) as session:
        make_user(session)
        session.commit()
    _account(client, writer)
    _account(client, writer, id="beta")
    mine = _plan(client, writer, owner="csm@example.com")
    other = _plan(client, writer, account="beta")
    at_risk = _goal(client, writer, mine, title="A", status="at_risk")
    _goal(client, writer, mine, title="B")
    _goal(client, writer, other, title="C", status="at_risk")
    verified = _goal(client, writer, other, title="D")
    # A hundred days later: only D has been verified since.
    app.state.clock = lambda: AS_OF + dt.timedelta(days=95)
    client.post(f"/api/v1/accounts/beta/success-plans/{other['id']}/goals/{verified['id']}/verify",
                headers=writer)
    app.state.clock = lambda: AS_OF + dt.timedelta(days=100)

    def titles(**params: Any) -> list[str]:
        return [g["title"] for g in walk(client, "/api/v1/goals", reader, limit=1, **params)]

    assert titles() == ["A", "B", "C", "D"]
    assert titles(status="at_risk") == ["A", "C"]
    assert titles(owner="csm@example.com") == ["A", "B"]
    assert titles(owner="csm@example.com", status="at_risk") == ["A"]
    assert titles(owner="none") == ["C", "D"]
    assert titles(unverified_days=90) == ["A", "B", "C"]
    assert titles(account_id="beta", unverified_days=90) == ["C"]
    assert at_risk["account_id"] == "acme"
    assert error_fields(client.get("/api/v1/goals", params={"status": "meh"}, headers=reader)
                        ) == {"status"}
