"""Expansion opportunities over HTTP: create (idempotent), read, ETag/If-Match changes, filters
and pagination, the weighted pipeline, suggestions from expansion signals."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.builders import make_user, post_account
from tests.helpers import assert_problem, error_fields, walk

Headers = dict[str, str]
BASE = "/api/v1/opportunities"
TODAY = dt.date(2026, 11, 23)  # AS_OF in Asia/Tokyo


_account = partial(post_account, segment="smb", currency="JPY")


def _create(client: TestClient, writer: Headers, **fields: Any) -> dict[str, Any]:
    body = {"account_id": "acme", "kind": "upsell_seats", "amount": 500000, **fields}
    body = {k: v for k, v in body.items() if v is not None}  # None: leave the field out
    response = client.post(BASE, json=body, headers=writer)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert response.headers["ETag"] == f'"opportunity-{result["id"]}-v1"'
    return result


def _seats_usage(client: TestClient, writer: Headers, account: str, users: int) -> None:
    """``users`` active on one recent day (pushed aggregates)."""
    row = {
        "account_id": account,
        "day": (TODAY - dt.timedelta(days=3)).isoformat(),
        "event": "report.viewed",
        "count": users * 2,
        "distinct_users": users,
        "active_users": users,
    }
    response = client.post("/api/v1/usage", json={"data": [row]}, headers=writer)
    assert response.status_code in (200, 201), response.text


def test_create_defaults_owner_and_currency_from_the_account_and_reads_back(
    client: TestClient, engine: Engine, writer: Headers, reader: Headers
) -> None:
    with Session(engine) as s:
        make_user(s, email="sato@example.com")
        s.commit()
    _account(client, writer, owner="sato@example.com", currency="USD")

    created = _create(
        client, writer, stage="proposal", expected_close_on="2027-01-31", notes="  Ten more seats for sales  "
    )

    assert created["owner"] == "sato@example.com"
    assert created["currency"] == "USD"
    assert created["stage"] == "proposal" and created["probability"] == 0.5
    assert created["weighted_amount"] == 250000.0
    assert created["source"] == "manual" and created["source_data"] == {}
    assert created["notes"] == "Ten more seats for sales"
    assert created["tier"] is None and created["closed_on"] is None
    got = client.get(f"{BASE}/{created['id']}", headers=reader)
    assert got.status_code == 200
    assert got.headers["ETag"] == f'"opportunity-{created["id"]}-v1"'
    assert got.json() == created


def test_validation_names_each_field(client: TestClient, writer: Headers) -> None:
    _account(client, writer)

    assert error_fields(
        client.post(BASE, json={"account_id": "acme", "kind": "boat", "amount": -1}, headers=writer)
    ) == {"kind", "amount"}
    assert error_fields(
        client.post(BASE, json={"account_id": "nope", "kind": "cross_sell"}, headers=writer)
    ) == {"account_id"}
    # Domain rules: priced from proposal on, a committed one has a close date, lost needs a reason.
    assert error_fields(
        client.post(
            BASE, json={"account_id": "acme", "kind": "cross_sell", "stage": "committed"}, headers=writer
        )
    ) == {"amount", "expected_close_on"}
    assert error_fields(
        client.post(BASE, json={"account_id": "acme", "kind": "cross_sell", "stage": "lost"}, headers=writer)
    ) == {"lost_reason"}
    assert error_fields(
        client.post(
            BASE,
            json={"account_id": "acme", "kind": "cross_sell", "owner": "ghost@example.com"},
            headers=writer,
        )
    ) == {"owner"}
    # A signal that is not active on the account cannot be the source.
    assert error_fields(
        client.post(
            BASE,
            json={"account_id": "acme", "kind": "upsell_seats", "source": "seats_nearly_full"},
            headers=writer,
        )
    ) == {"source"}


def test_scopes(client: TestClient, writer: Headers, reader: Headers) -> None:
    _account(client, writer)
    assert_problem(client.get(BASE), 401)
    assert_problem(client.post(BASE, json={"account_id": "acme", "kind": "cross_sell"}, headers=reader), 403)
    assert client.get(BASE, headers=reader).status_code == 200


def test_create_is_idempotent_with_a_key(client: TestClient, writer: Headers, reader: Headers) -> None:
    _account(client, writer)
    body = {"account_id": "acme", "kind": "cross_sell", "amount": 100}
    first = client.post(BASE, json=body, headers={**writer, "Idempotency-Key": "k-1"})
    again = client.post(BASE, json=body, headers={**writer, "Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["external_id"] == "k-1"
    other = client.post(BASE, json={**body, "amount": 200}, headers={**writer, "Idempotency-Key": "k-1"})
    assert_problem(other, 409)
    # The same through the body's external_id; a header that disagrees with it is refused.
    by_id = client.post(BASE, json={**body, "external_id": "crm-7"}, headers=writer)
    assert (
        client.post(BASE, json={**body, "external_id": "crm-7"}, headers=writer).json()["id"]
        == by_id.json()["id"]
    )
    assert error_fields(
        client.post(
            BASE, json={**body, "external_id": "crm-8"}, headers={**writer, "Idempotency-Key": "other"}
        )
    ) == {"Idempotency-Key"}
    assert len(walk(client, BASE, reader)) == 2


def test_patch_needs_if_match_and_refuses_a_stale_one(client: TestClient, writer: Headers) -> None:
    _account(client, writer)
    created = _create(client, writer)
    url = f"{BASE}/{created['id']}"

    missing = assert_problem(client.patch(url, json={"stage": "qualified"}, headers=writer), 428)
    assert missing["errors"][0]["field"] == "If-Match"
    tag = f'"opportunity-{created["id"]}-v1"'
    moved = client.patch(url, json={"stage": "qualified"}, headers={**writer, "If-Match": tag})
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == 2
    assert moved.headers["ETag"] == f'"opportunity-{created["id"]}-v2"'

    stale = assert_problem(client.patch(url, json={"amount": 1}, headers={**writer, "If-Match": tag}), 412)
    assert stale["etag"] == moved.headers["ETag"]
    assert stale["current"]["stage"] == "qualified"
    assert client.get(url, headers=writer).json()["amount"] == 500000.0
    # Another resource's ETag is never current.
    assert_problem(client.patch(url, json={"amount": 1}, headers={**writer, "If-Match": '"plan-1-v2"'}), 412)


def test_closing_records_the_day_and_reopening_clears_it(client: TestClient, writer: Headers) -> None:
    _account(client, writer)
    created = _create(client, writer)
    url = f"{BASE}/{created['id']}"

    bad = client.patch(
        url, json={"stage": "lost"}, headers={**writer, "If-Match": f'"opportunity-{created["id"]}-v1"'}
    )
    assert error_fields(bad) == {"lost_reason"}
    # A refused change changes nothing, not even the version.
    assert client.get(url, headers=writer).json()["version"] == 1
    lost = client.patch(
        url,
        json={"stage": "lost", "lost_reason": "budget"},
        headers={**writer, "If-Match": f'"opportunity-{created["id"]}-v1"'},
    ).json()
    assert (lost["closed_on"], lost["lost_reason"], lost["weighted_amount"]) == ("2026-11-23", "budget", 0.0)
    reopened = client.patch(
        url, json={"stage": "identified"}, headers={**writer, "If-Match": f'"opportunity-{created["id"]}-v2"'}
    ).json()
    assert (reopened["closed_on"], reopened["lost_reason"]) == (None, None)
    assert error_fields(
        client.patch(
            url, json={"stage": None}, headers={**writer, "If-Match": f'"opportunity-{created["id"]}-v3"'}
        )
    ) == {"stage"}


def test_delete_with_if_match(client: TestClient, writer: Headers, reader: Headers) -> None:
    _account(client, writer)
    created = _create(client, writer)
    url = f"{BASE}/{created['id']}"
    assert_problem(client.delete(url, headers=writer), 428)
    assert (
        client.delete(url, headers={**writer, "If-Match": f'"opportunity-{created["id"]}-v1"'}).status_code
        == 204
    )
    assert_problem(client.get(url, headers=reader), 404)


def test_list_filters_and_pages(client: TestClient, engine: Engine, writer: Headers, reader: Headers) -> None:
    with Session(engine) as s:
        make_user(s, email="sato@example.com")
        s.commit()
    _account(client, writer, "acme", segment="enterprise", owner="sato@example.com")
    _account(client, writer, "globex", segment="smb")
    ids = [_create(client, writer, account_id="acme", stage="qualified")["id"] for _ in range(3)]
    ids += [_create(client, writer, account_id="globex", stage="won")["id"] for _ in range(2)]

    every = walk(client, BASE, reader, limit=2)
    assert [o["id"] for o in every] == sorted(ids, reverse=True)
    assert len(walk(client, BASE, reader, stage="open")) == 3
    assert len(walk(client, BASE, reader, stage="won,lost")) == 2
    assert {o["account_id"] for o in walk(client, BASE, reader, owner="sato@example.com")} == {"acme"}
    assert {o["account_id"] for o in walk(client, BASE, reader, owner="none")} == {"globex"}
    assert {o["account_id"] for o in walk(client, BASE, reader, segment="smb")} == {"globex"}
    assert len(walk(client, BASE, reader, tier="none")) == 5
    assert walk(client, BASE, reader, tier="1") == []
    assert_problem(client.get("/api/v1/accounts/nope/opportunities", headers=reader), 404)
    account = client.get("/api/v1/accounts/acme/opportunities", headers=reader)
    assert [o["id"] for o in account.json()] == sorted(ids[:3], reverse=True)
    assert error_fields(
        client.get(
            BASE,
            headers=reader,
            params={"stage": "maybe", "tier": "9", "segment": "huge", "owner": "ghost@example.com"},
        )
    ) == {"stage", "tier", "segment", "owner"}
    assert error_fields(client.get(BASE, headers=reader, params={"cursor": "garbage"})) == {"cursor"}


def test_pipeline_totals_by_stage_and_tier(client: TestClient, writer: Headers, reader: Headers) -> None:
    _account(client, writer)
    _create(client, writer, stage="proposal", amount=1_000_000)
    _create(client, writer, stage="committed", amount=400_000, expected_close_on="2027-01-10")
    _create(client, writer, stage="lost", amount=50_000, lost_reason="timing")

    body = client.get(f"{BASE}/pipeline", headers=reader).json()

    stages = {
        b["key"]: (b["count"], b["amount"], b["weighted_amount"], b["probability"]) for b in body["by_stage"]
    }
    assert stages["proposal"] == (1, 1_000_000.0, 500_000.0, 0.5)
    assert stages["committed"] == (1, 400_000.0, 320_000.0, 0.8)
    assert stages["lost"] == (1, 50_000.0, 0.0, 0.0)
    assert stages["identified"] == (0, 0.0, 0.0, 0.1)
    assert body["open"] == [
        {"key": "open", "currency": "JPY", "count": 2, "amount": 1_400_000.0, "weighted_amount": 820_000.0}
    ]
    assert [(b["key"], b["count"]) for b in body["by_tier"]] == [("none", 2)]
    assert (
        client.get(f"{BASE}/pipeline", headers=reader, params={"segment": "enterprise"}).json()["open"] == []
    )


def test_suggestion_from_seats_nearly_full_and_creating_from_it(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    _account(client, writer, "acme", licensed_seats=50, arr=3_000_000)
    _account(client, writer, "globex", licensed_seats=50, arr=3_000_000)
    _seats_usage(client, writer, "acme", 46)
    _seats_usage(client, writer, "globex", 44)

    (suggestion,) = client.get(f"{BASE}/suggestions", headers=reader).json()

    assert suggestion["account_id"] == "acme"
    assert (suggestion["signal"], suggestion["kind"], suggestion["amount"]) == (
        "seats_nearly_full",
        "upsell_seats",
        600_000.0,
    )
    assert suggestion["data"]["active_users_30d"] == 46
    created = _create(client, writer, source="seats_nearly_full", amount=None)
    assert created["amount"] == 600_000.0
    assert created["source_data"]["licensed_seats"] == 50
    assert created["source_data"]["detected_on"] == "2026-11-23"
    # An account with an open opportunity is no longer suggested.
    assert client.get(f"{BASE}/suggestions", headers=reader).json() == []


def test_an_id_out_of_range_is_a_422_naming_it_not_a_crash(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    huge = 10**23
    for response in (
        client.get(f"{BASE}/{huge}", headers=reader),
        client.patch(f"{BASE}/{huge}", json={"stage": "qualified"}, headers={**writer, "If-Match": "*"}),
    ):
        assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["opportunity_id"]
    assert_problem(client.delete(f"{BASE}/-1", headers={**writer, "If-Match": "*"}), 404)
