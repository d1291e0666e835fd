"""Accounts over the JSON API: CRUD by external id, validation, filters, sorts and pagination."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.pagination import Cursor, encode_cursor
from tests.builders import AS_OF, make_user
from tests.helpers import Headers, assert_problem, error_fields, walk

URL = "/api/v1/accounts"


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    body = {"id": "acme", "name": "Acme"} | fields
    response = client.post(URL, headers=headers, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def listed(client: TestClient, headers: Headers, **params: Any) -> list[str]:
    response = client.get(URL, headers=headers, params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return ids(response.json()["data"])


@pytest.fixture
def csm(session: Session) -> str:
    make_user(session, email="csm@example.com")
    make_user(session, email="other@example.com", name="Other CSM")
    session.commit()
    return "csm@example.com"


# -- create and read ---------------------------------------------------------------------------


def test_create_returns_201_with_location_and_the_account(
    client: TestClient, writer: Headers, reader: Headers, csm: str
) -> None:
    response = client.post(URL, headers=writer, json={
        "id": "acct-0001", "name": "株式会社さくら製作所", "industry": "manufacturing",
        "segment": "enterprise", "plan": "Enterprise", "licensed_seats": 250,
        "arr": 1_200_000.50, "currency": "JPY", "contract_start_on": "2025-04-01",
        "renewal_on": "2026-04-01", "owner": csm, "traits": {"region": "関東", "tier": 1},
    })

    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{URL}/acct-0001"
    body = response.json()
    assert body == {
        "id": "acct-0001", "name": "株式会社さくら製作所", "industry": "manufacturing",
        "segment": "enterprise", "plan": "Enterprise", "licensed_seats": 250,
        "arr": 1_200_000.5, "currency": "JPY", "contract_start_on": "2025-04-01",
        "renewal_on": "2026-04-01", "status": "active", "churned_on": None, "owner": csm,
        "traits": {"region": "関東", "tier": 1},
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert dt.datetime.fromisoformat(body["created_at"]) == AS_OF
    assert client.get(response.headers["location"], headers=reader).json() == body


def test_create_applies_defaults(client: TestClient, writer: Headers) -> None:
    body = create(client, writer, id="min", name="Minimal")

    assert body["status"] == "active"
    assert body["arr"] == 0
    assert body["currency"] == "JPY"
    assert body["owner"] is None
    assert body["traits"] == {}
    assert body["segment"] is None


def test_create_churned_account_gets_todays_churn_date(
    client: TestClient, writer: Headers
) -> None:
    body = create(client, writer, status="churned")

    assert body["churned_on"] == AS_OF.date().isoformat()


def test_get_unknown_account_is_404_problem(client: TestClient, reader: Headers) -> None:
    body = assert_problem(client.get(f"{URL}/nope", headers=reader), 404)

    assert body["type"] == "urn:bansou:problem:not-found"
    assert body["instance"] == f"{URL}/nope"
    assert "nope" in body["detail"]


def test_duplicate_external_id_is_409_problem(client: TestClient, writer: Headers) -> None:
    create(client, writer, id="acme")

    response = client.post(URL, headers=writer, json={"id": "acme", "name": "Other"})

    body = assert_problem(response, 409)
    assert body["type"] == "urn:bansou:problem:conflict"
    assert "acme" in body["detail"]
    assert listed(client, writer) == ["acme"]


def test_create_with_unknown_owner_names_owner(client: TestClient, writer: Headers) -> None:
    response = client.post(URL, headers=writer, json={
        "id": "acme", "name": "Acme", "owner": "ghost@example.com",
    })

    assert error_fields(response) == {"owner"}
    assert client.get(f"{URL}/acme", headers=writer).status_code == 404


# -- validation --------------------------------------------------------------------------------


INVALID_CREATES: list[tuple[dict[str, Any], set[str]]] = [
    ({"id": "a"}, {"name"}),
    ({"name": "A"}, {"id"}),
    ({"id": "a", "name": "   "}, {"name"}),
    ({"id": "a", "name": "A", "segment": "galactic"}, {"segment"}),
    ({"id": "a", "name": "A", "arr": -1}, {"arr"}),
    ({"id": "a", "name": "A", "arr": "lots"}, {"arr"}),
    ({"id": "a", "name": "A", "licensed_seats": -5}, {"licensed_seats"}),
    ({"id": "a", "name": "A", "currency": "yen"}, {"currency"}),
    ({"id": "a", "name": "A", "renewal_on": "next spring"}, {"renewal_on"}),
    ({"id": "a", "name": "A", "owner": "not-an-email"}, {"owner"}),
    ({"id": "a", "name": "A", "status": "deleted"}, {"status"}),
    ({"id": "a", "name": "A", "nickname": "Ac"}, {"nickname"}),
    (
        {"name": "", "segment": "galactic", "arr": -1, "nickname": "x"},
        {"id", "name", "segment", "arr", "nickname"},
    ),
]


def test_invalid_create_is_422_naming_each_bad_field(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    # Subtests share one database: every case is refused, so none changes it.
    for body, fields in INVALID_CREATES:
        with subtests.test(body=body):
            response = client.post(URL, headers=writer, json=body)

            assert error_fields(response) == fields
            for error in response.json()["errors"]:
                assert error["location"] == "body"
                assert error["message"]
    assert listed(client, writer) == []


def test_renewal_before_contract_start_is_422_naming_renewal_on(
    client: TestClient, writer: Headers
) -> None:
    response = client.post(URL, headers=writer, json={
        "id": "a", "name": "A", "contract_start_on": "2026-04-01", "renewal_on": "2026-03-31",
    })

    assert error_fields(response) == {"renewal_on"}


def test_active_account_with_churn_date_is_422(client: TestClient, writer: Headers) -> None:
    response = client.post(URL, headers=writer, json={
        "id": "a", "name": "A", "status": "active", "churned_on": "2026-01-01",
    })

    assert error_fields(response) == {"churned_on"}


def test_malformed_json_is_400_problem(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    for raw in (b'{"id": "a", "name": ', b"not json", b'{"id": "a",}'):
        with subtests.test(raw=raw):
            response = client.post(
                URL, headers={**writer, "Content-Type": "application/json"}, content=raw
            )

            body = assert_problem(response, 400)
            assert body["type"] == "urn:bansou:problem:malformed-json"


def test_json_that_is_not_an_object_is_422(client: TestClient, writer: Headers) -> None:
    response = client.post(URL, headers=writer, json=["acme"])

    assert_problem(response, 422)


# -- update ------------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(
    app: FastAPI, client: TestClient, writer: Headers, reader: Headers
) -> None:
    before = create(
        client, writer, industry="retail", segment="smb", arr=1000, renewal_on="2027-01-31"
    )
    later = AS_OF + dt.timedelta(days=3)
    app.state.clock = lambda: later

    response = client.patch(f"{URL}/acme", headers=writer, json={"name": "Acme Holdings"})

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["name"] == "Acme Holdings"
    assert dt.datetime.fromisoformat(after["updated_at"]) == later
    unchanged = {k: v for k, v in before.items() if k not in {"name", "updated_at"}}
    assert {k: after[k] for k in unchanged} == unchanged
    assert client.get(f"{URL}/acme", headers=reader).json() == after


def test_patch_null_clears_a_nullable_field(client: TestClient, writer: Headers) -> None:
    create(client, writer, industry="retail", renewal_on="2027-01-31")

    response = client.patch(f"{URL}/acme", headers=writer, json={"industry": None})

    assert response.status_code == 200, response.text
    assert response.json()["industry"] is None
    assert response.json()["renewal_on"] == "2027-01-31"


def test_patch_null_on_a_required_field_is_422(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    before = create(client, writer)
    for field in ("name", "status", "arr", "currency", "traits"):
        with subtests.test(field=field):
            response = client.patch(f"{URL}/acme", headers=writer, json={field: None})

            assert error_fields(response) == {field}
    assert client.get(f"{URL}/acme", headers=writer).json() == before


def test_patch_sets_and_clears_the_owner_by_email(
    client: TestClient, writer: Headers, csm: str
) -> None:
    create(client, writer)

    response = client.patch(f"{URL}/acme", headers=writer, json={"owner": "Other@Example.com"})
    assert response.status_code == 200, response.text
    assert response.json()["owner"] == "other@example.com"

    response = client.patch(f"{URL}/acme", headers=writer, json={"owner": None})
    assert response.status_code == 200, response.text
    assert response.json()["owner"] is None


def test_patch_unknown_owner_is_422_naming_owner(
    client: TestClient, writer: Headers, csm: str
) -> None:
    create(client, writer, owner=csm)

    response = client.patch(f"{URL}/acme", headers=writer, json={"owner": "ghost@example.com"})

    assert error_fields(response) == {"owner"}
    assert client.get(f"{URL}/acme", headers=writer).json()["owner"] == csm


def test_patch_renewal_before_existing_contract_start_is_422(
    client: TestClient, writer: Headers
) -> None:
    create(client, writer, contract_start_on="2026-04-01", renewal_on="2027-04-01")

    response = client.patch(f"{URL}/acme", headers=writer, json={"renewal_on": "2026-01-01"})

    assert error_fields(response) == {"renewal_on"}
    assert client.get(f"{URL}/acme", headers=writer).json()["renewal_on"] == "2027-04-01"


def test_churning_sets_churned_on_and_reactivating_clears_it(
    client: TestClient, writer: Headers
) -> None:
    create(client, writer)

    churned = client.patch(f"{URL}/acme", headers=writer, json={"status": "churned"})
    assert churned.status_code == 200, churned.text
    assert churned.json()["status"] == "churned"
    assert churned.json()["churned_on"] == AS_OF.date().isoformat()

    active = client.patch(f"{URL}/acme", headers=writer, json={"status": "active"})
    assert active.status_code == 200, active.text
    assert active.json()["churned_on"] is None


def test_churning_keeps_a_given_churn_date(client: TestClient, writer: Headers) -> None:
    create(client, writer)

    response = client.patch(
        f"{URL}/acme", headers=writer, json={"status": "churned", "churned_on": "2026-10-31"}
    )

    assert response.json()["churned_on"] == "2026-10-31"


def test_patch_with_unknown_field_is_422(client: TestClient, writer: Headers) -> None:
    create(client, writer)

    response = client.patch(f"{URL}/acme", headers=writer, json={"id": "renamed"})

    assert error_fields(response) == {"id"}


def test_patch_unknown_account_is_404(client: TestClient, writer: Headers) -> None:
    assert_problem(client.patch(f"{URL}/nope", headers=writer, json={"name": "X"}), 404)


# -- delete ------------------------------------------------------------------------------------


def test_delete_is_soft(client: TestClient, writer: Headers) -> None:
    create(client, writer, id="acme")
    create(client, writer, id="globex", name="Globex")

    response = client.delete(f"{URL}/acme", headers=writer)

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(f"{URL}/acme", headers=writer), 404)
    assert listed(client, writer) == ["globex"]
    deleted = client.get(URL, headers=writer, params={"status": "deleted"}).json()["data"]
    assert [(a["id"], a["status"], a["name"]) for a in deleted] == [("acme", "deleted", "Acme")]


def test_deleted_account_cannot_be_changed_or_deleted_again(
    client: TestClient, writer: Headers
) -> None:
    create(client, writer)
    client.delete(f"{URL}/acme", headers=writer)

    assert_problem(client.delete(f"{URL}/acme", headers=writer), 404)
    assert_problem(client.patch(f"{URL}/acme", headers=writer, json={"name": "X"}), 404)


def test_delete_unknown_account_is_404(client: TestClient, writer: Headers) -> None:
    assert_problem(client.delete(f"{URL}/nope", headers=writer), 404)


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture
def book(client: TestClient, writer: Headers, csm: str) -> None:
    """Five accounts across owners, segments, industries and statuses."""
    create(client, writer, id="a1", name="株式会社さくら製作所", industry="manufacturing",
           segment="enterprise", owner=csm)
    create(client, writer, id="a2", name="さくら商事", industry="retail", segment="smb",
           owner="other@example.com")
    create(client, writer, id="a3", name="Globex", industry="retail", segment="mid_market",
           owner=csm, status="churned")
    create(client, writer, id="a4", name="Initech", industry="it_services", segment="smb")
    create(client, writer, id="a5", name="Umbrella", industry="healthcare", segment="smb")
    assert client.delete(f"{URL}/a5", headers=writer).status_code == 204


FILTER_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({}, {"a1", "a2", "a3", "a4"}),
    ({"owner": "csm@example.com"}, {"a1", "a3"}),
    ({"owner": " CSM@Example.COM "}, {"a1", "a3"}),
    ({"owner": "other@example.com"}, {"a2"}),
    ({"owner": "none"}, {"a4"}),
    ({"owner": "nobody@example.com"}, set()),
    ({"segment": "smb"}, {"a2", "a4"}),
    ({"segment": "enterprise"}, {"a1"}),
    ({"industry": "retail"}, {"a2", "a3"}),
    ({"status": "active"}, {"a1", "a2", "a4"}),
    ({"status": "churned"}, {"a3"}),
    ({"status": "deleted"}, {"a5"}),
    ({"q": "さくら"}, {"a1", "a2"}),
    ({"q": "製作所"}, {"a1"}),
    ({"q": "globex"}, {"a3"}),
    ({"q": "NITE"}, {"a4"}),
    ({"q": "zzz"}, set()),
    ({"segment": "smb", "owner": "none"}, {"a4"}),
    ({"industry": "retail", "status": "churned", "owner": "csm@example.com"}, {"a3"}),
]


def test_list_filters(
    client: TestClient, reader: Headers, book: None, subtests: pytest.Subtests
) -> None:
    # One book for every case (each is a GET; the setup hashes two passwords).
    for params, expected in FILTER_CASES:
        with subtests.test(params=params):
            assert set(listed(client, reader, **params)) == expected


def test_text_search_treats_wildcards_literally(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    create(client, writer, id="pct", name="100% Organic")
    create(client, writer, id="digits", name="1000 Organic")
    create(client, writer, id="under", name="a_b Trading")
    create(client, writer, id="plain", name="axb Trading")
    create(client, writer, id="slash", name="Back\\slash Inc")

    for q, expected in [("%", {"pct"}), ("_", {"under"}), ("0%", {"pct"}), ("a_b", {"under"}),
                        ("\\", {"slash"})]:
        with subtests.test(q=q):
            assert set(listed(client, writer, q=q)) == expected


BAD_LIST_PARAMETERS: list[tuple[dict[str, str], str]] = [
    ({"segment": "galactic"}, "segment"),
    ({"status": "gone"}, "status"),
    ({"sort": "owner"}, "sort"),
    ({"sort": "-"}, "sort"),
    ({"q": "x" * 201}, "q"),
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
]


def test_bad_list_parameters_are_422(
    client: TestClient, reader: Headers, subtests: pytest.Subtests
) -> None:
    for params, field in BAD_LIST_PARAMETERS:
        with subtests.test(params=params):
            response = client.get(URL, headers=reader, params=params)

            assert error_fields(response) == {field}
            assert response.json()["errors"][0]["location"] == "query"


def test_limit_bounds_are_accepted(client: TestClient, reader: Headers) -> None:
    for limit in (1, 200):
        assert client.get(URL, headers=reader, params={"limit": limit}).status_code == 200


# -- sorting -----------------------------------------------------------------------------------

# (id, name, arr, renewal_on, minutes after AS_OF when created): ties on every key but id.
SORT_ROWS = [
    ("s1", "Delta", 500, "2027-03-01", 5),
    ("s2", "Alpha", 1500, None, 1),
    ("s3", "Charlie", 500, "2026-12-01", 3),
    ("s4", "Bravo", 9000, "2027-03-01", 2),
    ("s5", "Delta", 20, None, 4),
    ("s6", "Echo", 1500.25, "2026-12-31", 4),
    ("s7", "Alpha", 0, "2027-06-30", 0),
]
FAR_FUTURE = "9999-12-31"


def _sort_key(row: tuple[Any, ...], key: str) -> Any:
    ext_id, name, arr, renewal, minutes = row
    value = {"name": name, "arr": arr, "renewal_on": renewal or FAR_FUTURE,
             "created_at": minutes, "id": 0}[key]
    return (value, int(ext_id[1:]))  # rows are created in s1..s7 order, so ids follow


def expected_order(sort: str) -> list[str]:
    key = sort.lstrip("-")
    rows = sorted(SORT_ROWS, key=lambda r: _sort_key(r, key), reverse=sort.startswith("-"))
    return [r[0] for r in rows]


@pytest.fixture
def sortable(app: FastAPI, client: TestClient, writer: Headers) -> None:
    for ext_id, name, arr, renewal, minutes in SORT_ROWS:
        moment = AS_OF + dt.timedelta(minutes=minutes)
        app.state.clock = lambda moment=moment: moment
        create(client, writer, id=ext_id, name=name, arr=arr, renewal_on=renewal)
    app.state.clock = lambda: AS_OF


SORTS = ["name", "-name", "arr", "-arr", "renewal_on", "-renewal_on", "created_at",
         "-created_at", "id", "-id"]


@pytest.mark.usefixtures("sortable")
def test_sort_and_walk_every_page(
    client: TestClient, reader: Headers, subtests: pytest.Subtests
) -> None:
    """One page holds them all in order; small pages return each account once, same order."""
    for sort in SORTS:
        with subtests.test(sort=sort):
            expected = expected_order(sort)

            assert listed(client, reader, sort=sort) == expected
            for limit in (1, 2, 3, len(SORT_ROWS)):
                assert ids(walk(client, URL, reader, sort=sort, limit=limit)) == expected, limit
    with subtests.test("the default sort is by name"):
        assert listed(client, reader) == expected_order("name")
    with subtests.test("accounts without a renewal date come last"):
        order = listed(client, reader, sort="renewal_on")
        assert order[0] == "s3"
        assert order[-2:] == ["s2", "s5"]
    with subtests.test("walking a filtered list"):
        # Every name but Echo has an "a"; arr 9000, 1500, 500 (s3 before s1: ties go by id),
        # 20, 0.
        items = walk(client, URL, reader, sort="-arr", limit=1, q="A")
        assert ids(items) == ["s4", "s2", "s3", "s1", "s5", "s7"]


# -- pagination edge cases ---------------------------------------------------------------------


def test_empty_list(client: TestClient, reader: Headers) -> None:
    response = client.get(URL, headers=reader)

    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}


def _make_many(client: TestClient, headers: Headers, n: int) -> None:
    for i in range(n):
        create(client, headers, id=f"p{i:02d}", name=f"Company {i:02d}")


def test_exactly_limit_items_has_no_next_cursor(client: TestClient, writer: Headers) -> None:
    _make_many(client, writer, 3)

    page = client.get(URL, headers=writer, params={"limit": 3}).json()

    assert ids(page["data"]) == ["p00", "p01", "p02"]
    assert page["next_cursor"] is None


def test_limit_plus_one_items_gives_a_second_page_of_one(
    client: TestClient, writer: Headers
) -> None:
    _make_many(client, writer, 4)

    first = client.get(URL, headers=writer, params={"limit": 3}).json()
    assert ids(first["data"]) == ["p00", "p01", "p02"]
    assert first["next_cursor"]

    second = client.get(
        URL, headers=writer, params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert ids(second["data"]) == ["p03"]
    assert second["next_cursor"] is None


def test_default_limit_is_50(client: TestClient, writer: Headers) -> None:
    _make_many(client, writer, 51)

    page = client.get(URL, headers=writer).json()

    assert len(page["data"]) == 50
    assert page["next_cursor"]


def test_empty_cursor_means_first_page(client: TestClient, writer: Headers) -> None:
    _make_many(client, writer, 2)

    page = client.get(URL, headers=writer, params={"cursor": ""}).json()

    assert ids(page["data"]) == ["p00", "p01"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    ("name", "garbage!"),
    ("name", _b64(b"[1, 2")),
    ("name", _b64(json.dumps(["name", "x"]).encode())),
    ("name", encode_cursor(Cursor("name", 12, 1))),
    ("arr", encode_cursor(Cursor("arr", "a lot", 1))),
    ("renewal_on", encode_cursor(Cursor("renewal_on", "someday", 1))),
    ("created_at", encode_cursor(Cursor("created_at", None, 1))),
]


def test_bad_cursor_is_422_naming_cursor(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    _make_many(client, writer, 2)

    for sort, cursor in BAD_CURSORS:
        with subtests.test(sort=sort, cursor=cursor):
            response = client.get(URL, headers=writer, params={"cursor": cursor, "sort": sort})

            assert error_fields(response) == {"cursor"}


def test_cursor_from_another_sort_is_422(client: TestClient, writer: Headers) -> None:
    _make_many(client, writer, 3)
    cursor = client.get(URL, headers=writer, params={"limit": 1, "sort": "name"}).json()[
        "next_cursor"
    ]

    response = client.get(URL, headers=writer, params={"cursor": cursor, "sort": "-name"})

    assert error_fields(response) == {"cursor"}
    assert "sort=name" in response.json()["errors"][0]["message"]


def test_pages_stay_stable_when_accounts_are_added_while_paging(
    client: TestClient, writer: Headers
) -> None:
    _make_many(client, writer, 4)
    first = client.get(URL, headers=writer, params={"limit": 2}).json()
    create(client, writer, id="early", name="AAA first by name")

    second = client.get(
        URL, headers=writer, params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()

    assert ids(first["data"]) + ids(second["data"]) == ["p00", "p01", "p02", "p03"]


def test_location_of_an_account_with_a_japanese_id_is_percent_encoded(
    client: TestClient, writer: Headers
) -> None:
    response = client.post("/api/v1/accounts", headers=writer, json={"id": "アクメ 1", "name": "A"})

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/accounts/%E3%82%A2%E3%82%AF%E3%83%A1%201"
