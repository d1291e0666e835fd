"""Tasks, playbooks, industries and account history over HTTP: scopes, validation, pagination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.lifecycle import tasks as tasks_svc
from app.scoring.playbooks import AccountFacts
from tests.builders import make_interaction, make_user, post_account
from tests.conftest import AS_OF
from tests.helpers import assert_problem, error_fields, walk

Headers = dict[str, str]


_account = partial(post_account, segment="enterprise", industry="retail")


def _users(engine: Engine) -> None:
    with Session(engine) as s:
        make_user(s, email="sato@example.com")
        make_user(s, email="suzuki@example.com")
        s.commit()


def _task(client: TestClient, writer: Headers, **fields: Any) -> dict[str, Any]:
    body = {"account_id": "acme", "action": "adoption_review", "due_on": "2026-12-01", **fields}
    response = client.post("/api/v1/tasks", json=body, headers=writer)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_manual_task_goes_to_the_owner_and_lists_by_assignee(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers
) -> None:
    _users(engine)
    _account(client, writer, owner="sato@example.com")
    _account(client, writer, id="beta", owner="suzuki@example.com")
    task = _task(client, writer)
    _task(client, writer, account_id="beta", title="Call the champion", action=None)

    assert task["assignee"] == "sato@example.com" and task["title"] == "Adoption review"
    assert task["status"] == "open" and task["playbook"] is None
    mine = client.get("/api/v1/tasks", params={"assignee": "sato@example.com"}, headers=reader)
    assert [t["id"] for t in mine.json()["data"]] == [task["id"]]
    owned = client.get("/api/v1/tasks", params={"owner": "suzuki@example.com"}, headers=reader)
    assert [t["title"] for t in owned.json()["data"]] == ["Call the champion"]
    by_account = client.get("/api/v1/tasks", params={"account_id": "beta"}, headers=reader)
    assert len(by_account.json()["data"]) == 1


def test_overdue_and_status_filters_and_pagination(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    due = [AS_OF.date() + dt.timedelta(days=d) for d in (-3, -1, 0, 2, 2, 5)]
    created = [_task(client, writer, due_on=d.isoformat()) for d in due]

    overdue = client.get("/api/v1/tasks", params={"overdue": "true"}, headers=reader).json()
    assert [t["id"] for t in overdue["data"]] == [created[0]["id"], created[1]["id"]]
    items = walk(client, "/api/v1/tasks", reader, limit=2)
    assert [t["id"] for t in items] == [t["id"] for t in created]
    done = client.post(f"/api/v1/tasks/{created[0]['id']}/complete", json={}, headers=writer)
    assert done.json()["status"] == "done"
    only_done = client.get("/api/v1/tasks", params={"status": "done"}, headers=reader).json()
    assert [t["id"] for t in only_done["data"]] == [created[0]["id"]]
    everything = client.get("/api/v1/tasks", params={"status": "all"}, headers=reader).json()
    assert len(everything["data"]) == 6
    bad = client.get("/api/v1/tasks", params={"status": "finished"}, headers=reader)
    assert error_fields(bad) == {"status"}
    bad_cursor = client.get("/api/v1/tasks", params={"cursor": "nope"}, headers=reader)
    assert error_fields(bad_cursor) == {"cursor"}


def test_complete_links_an_interaction_of_the_same_account_only(
    client: TestClient, engine: Engine, writer: Headers
) -> None:
    _account(client, writer)
    _account(client, writer, id="other")
    task = _task(client, writer)
    from app.accounts.service import get_account

    with Session(engine) as s:
        make_interaction(s, account=get_account(s, "acme"), type="meeting", occurred_at=AS_OF)
        make_interaction(s, account=get_account(s, "other"), type="meeting", occurred_at=AS_OF)
        s.commit()
    url = f"/api/v1/tasks/{task['id']}/complete"

    wrong = client.post(url, json={"interaction_id": 2}, headers=writer)
    assert error_fields(wrong) == {"interaction_id"}
    done = client.post(url, json={"interaction_id": 1}, headers=writer)
    assert done.status_code == 200 and done.json()["interaction_id"] == 1
    assert done.json()["completed_at"] is not None
    # A retry is harmless; a different completion of a done task is a conflict.
    assert client.post(url, json={"interaction_id": 1}, headers=writer).status_code == 200
    assert_problem(client.post(url, json={}, headers=writer), 409)


def test_snooze_reassign_and_dismiss(client: TestClient, engine: Engine, writer: Headers) -> None:
    _users(engine)
    _account(client, writer, owner="sato@example.com")
    task = _task(client, writer)
    url = f"/api/v1/tasks/{task['id']}"

    past = client.post(f"{url}/snooze", json={"until": AS_OF.date().isoformat()}, headers=writer)
    assert error_fields(past) == {"until"}
    snoozed = client.post(f"{url}/snooze", json={"until": "2026-12-10"}, headers=writer).json()
    assert (snoozed["status"], snoozed["snoozed_until"]) == ("snoozed", "2026-12-10")
    unknown = client.post(f"{url}/reassign", json={"assignee": "nobody@example.com"},
                          headers=writer)
    assert error_fields(unknown) == {"assignee"}
    moved = client.post(f"{url}/reassign", json={"assignee": "suzuki@example.com"},
                        headers=writer)
    assert moved.json()["assignee"] == "suzuki@example.com"
    dismissed = client.post(f"{url}/dismiss", json={"reason": "handled offline"}, headers=writer)
    assert dismissed.json()["status"] == "closed"
    assert dismissed.json()["close_reason"] == "handled offline"
    assert_problem(client.post(f"{url}/snooze", json={"until": "2026-12-20"}, headers=writer), 409)
    assert_problem(client.get("/api/v1/tasks/999", headers=writer), 404)


def test_task_validation_and_scopes(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    missing = client.post("/api/v1/tasks", json={"account_id": "acme", "due_on": "x",
                                                 "action": "dance"}, headers=writer)
    assert error_fields(missing) == {"due_on", "action"}
    untitled = client.post("/api/v1/tasks", json={"account_id": "acme", "due_on": "2026-12-01"},
                           headers=writer)
    assert error_fields(untitled) == {"title"}
    assert_problem(client.post("/api/v1/tasks", json={"account_id": "nope", "title": "x",
                                                      "due_on": "2026-12-01"}, headers=writer), 404)
    assert_problem(client.post("/api/v1/tasks", json={"account_id": "acme", "title": "x",
                                                      "due_on": "2026-12-01"}, headers=reader), 403)
    assert_problem(client.get("/api/v1/tasks"), 401)


def test_synced_tasks_show_their_playbook_and_basis(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers
) -> None:
    _account(client, writer)
    with Session(engine) as s:
        facts = AccountFacts(account_id=1, owner_id=None, stage="growth", band="bad",
                             signals=frozenset(), segment="enterprise", tier=None,
                             is_target=False, tenure_days=500)
        tasks_svc.sync_playbook_tasks(s, facts=[facts], now=AS_OF)
        s.commit()

    task = client.get("/api/v1/tasks", headers=reader).json()["data"][0]

    assert task["action"] == "refresher_training"
    assert task["playbook"] == {"id": 1, "name": "default", "version": 1,
                                "rule_key": "flow-growth-bad"}
    assert task["basis"]["facts"]["stage"] == "growth"


def test_recompute_closes_the_tasks_of_a_deactivated_playbook(
    client: TestClient, writer: Headers, reader: Headers, auth: Callable[[str], Headers]
) -> None:
    """Regression: deactivating a playbook made the next lifecycle run fail (500) as soon as it
    had two or more tasks to close."""
    admin = auth("admin")
    _account(client, writer)
    _account(client, writer, id="beta")
    first = client.post("/api/v1/stages/recompute", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["tasks_created"] >= 2
    (playbook,) = client.get("/api/v1/playbooks", headers=reader).json()
    off = client.patch(f"/api/v1/playbooks/{playbook['id']}", json={"is_active": False},
                       headers=admin)
    assert off.status_code == 200, off.text

    again = client.post("/api/v1/stages/recompute", headers=admin)

    assert again.status_code == 200, again.text
    assert again.json()["tasks_closed"] == first.json()["tasks_created"]
    assert client.get("/api/v1/tasks", headers=reader).json()["data"] == []


# -- playbooks ---------------------------------------------------------------------------------

RULE = {"key": "quiet-champion", "action": "chair_side_session",
        "when": {"signals_any": ["champion_quiet"], "segments_not": ["smb"]}, "due_in_days": 5}


def test_playbook_crud_versions_export_and_import(
    client: TestClient, auth: Callable[[str], Headers], reader: Headers
) -> None:
    admin = auth("admin")
    created = client.post("/api/v1/playbooks", json={"name": "champions", "rules": [RULE]},
                          headers=admin)
    assert created.status_code == 201, created.text
    playbook = created.json()
    assert playbook["version"] == 1 and playbook["rules"][0]["key"] == "quiet-champion"
    url = f"/api/v1/playbooks/{playbook['id']}"

    published = client.put(url, json={"rules": [RULE, {**RULE, "key": "left",
                                                       "when": {"signals_any": ["champion_left"]}}]},
                           headers=admin)
    assert published.json()["version"] == 2
    assert [v["version"] for v in client.get(f"{url}/versions", headers=reader).json()] == [2, 1]
    assert len(client.get(url, params={"version": 1}, headers=reader).json()["rules"]) == 1
    exported = client.get(f"{url}/export", headers=reader).json()
    assert exported["name"] == "champions" and len(exported["rules"]) == 2

    same = client.post("/api/v1/playbooks/import", json=exported, headers=admin)
    assert same.status_code == 200 and same.json()["version"] == 2
    renamed = client.post("/api/v1/playbooks/import", json={**exported, "name": "copy"},
                          headers=admin)
    assert renamed.status_code == 201 and renamed.json()["version"] == 1
    off = client.patch(url, json={"is_active": False}, headers=admin)
    assert off.json()["is_active"] is False
    assert {p["name"] for p in client.get("/api/v1/playbooks", headers=reader).json()} == {
        "champions", "copy"}
    assert_problem(client.post("/api/v1/playbooks", json={"name": "copy", "rules": []},
                               headers=admin), 409)
    default = client.post("/api/v1/playbooks/default", headers=admin).json()
    assert default["name"] == "default" and len(default["rules"]) == 17


def test_playbook_validation_names_fields_and_needs_admin(
    client: TestClient, auth: Callable[[str], Headers]
) -> None:
    admin = auth("admin")
    bad = client.post("/api/v1/playbooks", json={"name": "x", "rules": [
        {**RULE, "action": "dance"}, {**RULE, "when": {"stages": ["moon"]}}]}, headers=admin)
    assert error_fields(bad) == {"rules[0].action", "rules[1].when.stages[0]"}
    duplicate = client.post("/api/v1/playbooks", json={"name": "x", "rules": [RULE, RULE]},
                            headers=admin)
    assert error_fields(duplicate) == {"rules[1].key"}
    nobody = client.post("/api/v1/playbooks", json={"name": "x", "rules": [
        {**RULE, "assignee": "user", "assignee_user_id": 42}]}, headers=admin)
    assert error_fields(nobody) == {"rules[0].assignee_user_id"}
    assert_problem(client.post("/api/v1/playbooks", json={"name": "x", "rules": [RULE]},
                               headers=auth("write")), 403)
    actions = client.get("/api/v1/playbooks/actions", headers=auth("read")).json()
    assert len(actions) == 11 and actions[0]["name_ja"]


# -- industries and history --------------------------------------------------------------------


def test_history_import_then_industry_tiers_and_override(
    client: TestClient, auth: Callable[[str], Headers], writer: Headers, reader: Headers
) -> None:
    for n in range(10):
        _account(client, writer, id=f"r{n}", industry="retail")
    events = [{"account_id": f"r{n}", "kind": "renewal", "occurred_on": "2025-10-01",
               "arr_before": 100, "arr_after": 120} for n in range(9)]
    events.append({"account_id": "r9", "kind": "churn", "occurred_on": "2025-09-01"})
    imported = client.post("/api/v1/account-history", json={"data": events}, headers=writer)
    assert imported.status_code == 201, imported.text
    assert len(imported.json()["data"]) == 10
    again = client.post("/api/v1/account-history", json={"data": events}, headers=writer)
    assert again.status_code == 201

    listed = client.get("/api/v1/industries", headers=reader).json()
    retail = next(i for i in listed["data"] if i["name"] == "retail")
    assert (retail["tier"], retail["is_target"], retail["renewals_due"]) == (1, True, 10)
    assert retail["renewal_rate"] == 0.9 and abs(retail["expansion_rate"] - 0.2) < 1e-9
    assert listed["config"]["lookback_months"] == 24

    admin = auth("admin")
    assert_problem(client.put("/api/v1/industries/retail/override",
                              json={"tier": 3, "reason": "x"}, headers=writer), 403)
    assert error_fields(client.put("/api/v1/industries/retail/override",
                                   json={"tier": 5, "reason": ""}, headers=admin)) == {
        "tier", "reason"}
    assert_problem(client.put("/api/v1/industries/mining/override",
                              json={"tier": 3, "reason": "x"}, headers=admin), 404)
    put = client.put("/api/v1/industries/retail/override",
                     json={"tier": 3, "reason": "margins"}, headers=admin).json()
    assert (put["tier"], put["computed_tier"], put["is_target"], put["status"]) == (
        3, 1, False, "override")
    assert put["override"]["reason"] == "margins" and put["override"]["set_by"] == "test-admin"
    deleted = client.delete("/api/v1/industries/retail/override", headers=admin)
    assert deleted.status_code == 204

    config = {"lookback_months": 24, "min_renewals_due": 20, "target_tier": 1, "cuts": [
        {"tier": 1, "min_renewal_rate": 0.9}, {"tier": 2, "min_renewal_rate": 0.8},
        {"tier": 3, "min_renewal_rate": 0.7}]}
    assert client.put("/api/v1/industries/config", json=config, headers=admin).status_code == 200
    after = client.get("/api/v1/industries", headers=reader).json()["data"]
    assert next(i for i in after if i["name"] == "retail")["status"] == "insufficient_data"


def test_account_history_endpoint_and_errors(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer, arr=1000, contract_start_on="2025-01-01")
    one = client.post("/api/v1/accounts/acme/history", headers=writer, json={
        "kind": "arr_change", "occurred_on": "2025-06-01", "arr_before": 1000, "arr_after": 1500})
    assert one.status_code == 201, one.text
    client.patch("/api/v1/accounts/acme", json={"status": "churned"}, headers=writer)

    items = walk(client, "/api/v1/accounts/acme/history", reader, limit=1)
    assert [i["kind"] for i in items] == ["churn", "arr_change", "contract_start"]
    assert items[0]["source"] == "account" and items[1]["source"] == "import"
    partial = client.post("/api/v1/accounts/acme/history", headers=writer,
                          json={"kind": "arr_change", "occurred_on": "2025-06-01"})
    assert error_fields(partial) == {"arr_after"}
    unknown = client.post("/api/v1/account-history", headers=writer, json={"data": [
        {"account_id": "ghost", "kind": "renewal", "occurred_on": "2025-01-01"}]})
    assert error_fields(unknown) == {"data[0].account_id"}
    assert_problem(client.post("/api/v1/accounts/acme/history", headers=reader, json={
        "kind": "renewal", "occurred_on": "2025-01-01"}), 403)
