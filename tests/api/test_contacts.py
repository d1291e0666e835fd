"""Contacts over the JSON API: the people at an account, under /accounts/{id}/contacts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.pagination import Cursor, encode_cursor
from tests.builders import AS_OF, post_account
from tests.helpers import Headers, assert_problem, error_fields, walk


def url(account: str = "acme") -> str:
    return f"/api/v1/accounts/{account}/contacts"


@pytest.fixture
def accounts(client: TestClient, writer: Headers) -> None:
    for ext_id in ("acme", "globex"):
        post_account(client, writer, ext_id)


def add(client: TestClient, headers: Headers, account: str = "acme", **fields: Any) -> dict[str, Any]:
    response = client.post(url(account), headers=headers, json=fields)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def names(items: list[dict[str, Any]]) -> list[str | None]:
    return [item["name"] for item in items]


pytestmark = pytest.mark.usefixtures("accounts")


def test_create_returns_201_with_location(
    client: TestClient, writer: Headers, reader: Headers
) -> None:
    response = client.post(url(), headers=writer, json={
        "external_id": "user-1", "email": "Hanako.Sato@Acme.example.jp", "name": "佐藤 花子",
        "title": "情報システム部 部長", "is_champion": True, "traits": {"team": "IT"},
    })

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{url()}/{body['id']}"
    assert body == {
        "id": body["id"], "account_id": "acme", "external_id": "user-1",
        "email": "hanako.sato@acme.example.jp", "name": "佐藤 花子", "title": "情報システム部 部長",
        "is_champion": True, "is_decision_maker": False, "is_star_user": False,
        "status": "active", "traits": {"team": "IT"},
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert dt.datetime.fromisoformat(body["created_at"]) == AS_OF
    assert client.get(response.headers["location"], headers=reader).json() == body


def test_create_with_no_fields_is_allowed(client: TestClient, writer: Headers) -> None:
    body = add(client, writer)

    assert body["external_id"] is None
    assert body["email"] is None
    assert body["status"] == "active"


def test_contacts_without_external_id_do_not_conflict(client: TestClient, writer: Headers) -> None:
    add(client, writer, name="A")
    add(client, writer, name="B")

    assert names(client.get(url(), headers=writer).json()["data"]) == ["A", "B"]


INVALID_CONTACTS: list[tuple[dict[str, Any], set[str]]] = [
    ({"email": "not-an-email"}, {"email"}),
    ({"external_id": ""}, {"external_id"}),
    ({"is_champion": "very"}, {"is_champion"}),
    ({"status": "deleted"}, {"status"}),
    ({"account_id": "globex"}, {"account_id"}),
    ({"name": "x" * 201, "email": "@"}, {"name", "email"}),
]


def test_invalid_contact_is_422_naming_each_field(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    for body, fields in INVALID_CONTACTS:
        with subtests.test(body=body):
            assert error_fields(client.post(url(), headers=writer, json=body)) == fields
    assert client.get(url(), headers=writer).json()["data"] == []


def test_contact_on_unknown_account_is_404(client: TestClient, writer: Headers) -> None:
    assert_problem(client.post(url("nope"), headers=writer, json={"name": "A"}), 404)
    assert_problem(client.get(url("nope"), headers=writer), 404)


def test_duplicate_external_id_is_409_even_across_accounts(
    client: TestClient, writer: Headers
) -> None:
    add(client, writer, external_id="user-1")

    same = client.post(url(), headers=writer, json={"external_id": "user-1"})
    other = client.post(url("globex"), headers=writer, json={"external_id": "user-1"})

    assert assert_problem(same, 409)["type"] == "urn:bansou:problem:conflict"
    assert_problem(other, 409)
    assert len(client.get(url(), headers=writer).json()["data"]) == 1
    assert client.get(url("globex"), headers=writer).json()["data"] == []


def test_patch_changes_only_the_given_fields(
    app: FastAPI, client: TestClient, writer: Headers
) -> None:
    before = add(client, writer, external_id="user-1", name="Sato", email="sato@acme.example")
    later = AS_OF + dt.timedelta(hours=1)
    app.state.clock = lambda: later

    response = client.patch(
        f"{url()}/{before['id']}", headers=writer,
        json={"is_star_user": True, "email": "SATO2@acme.example"},
    )

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["is_star_user"] is True
    assert after["email"] == "sato2@acme.example"
    assert dt.datetime.fromisoformat(after["updated_at"]) == later
    unchanged = {k: v for k, v in before.items()
                 if k not in {"is_star_user", "email", "updated_at"}}
    assert {k: after[k] for k in unchanged} == unchanged


def test_patch_to_a_taken_external_id_is_409(client: TestClient, writer: Headers) -> None:
    add(client, writer, external_id="user-1")
    second = add(client, writer, external_id="user-2")

    response = client.patch(
        f"{url()}/{second['id']}", headers=writer, json={"external_id": "user-1"}
    )

    assert_problem(response, 409)


def test_patch_keeping_its_own_external_id_is_fine(client: TestClient, writer: Headers) -> None:
    contact = add(client, writer, external_id="user-1")

    response = client.patch(
        f"{url()}/{contact['id']}", headers=writer, json={"external_id": "user-1", "name": "N"}
    )

    assert response.status_code == 200, response.text


def test_patch_null_on_a_required_field_is_422(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    contact = add(client, writer)
    for field in ("is_champion", "status", "traits"):
        with subtests.test(field=field):
            response = client.patch(f"{url()}/{contact['id']}", headers=writer, json={field: None})

            assert error_fields(response) == {field}


def test_contact_of_another_account_is_404(client: TestClient, writer: Headers) -> None:
    theirs = add(client, writer, account="globex", name="Theirs")
    path = f"{url('acme')}/{theirs['id']}"

    assert_problem(client.get(path, headers=writer), 404)
    assert_problem(client.patch(path, headers=writer, json={"name": "Mine"}), 404)
    assert_problem(client.delete(path, headers=writer), 404)
    assert client.get(f"{url('globex')}/{theirs['id']}", headers=writer).json()["name"] == "Theirs"


def test_unknown_contact_is_404(client: TestClient, writer: Headers) -> None:
    assert_problem(client.get(f"{url()}/999999", headers=writer), 404)


def test_contact_id_must_be_an_integer(client: TestClient, writer: Headers) -> None:
    response = client.get(f"{url()}/abc", headers=writer)

    assert error_fields(response) == {"contact_id"}
    assert response.json()["errors"][0]["location"] == "path"


def test_soft_delete_hides_from_the_list(client: TestClient, writer: Headers) -> None:
    gone = add(client, writer, name="Gone")
    add(client, writer, name="Kept")

    response = client.delete(f"{url()}/{gone['id']}", headers=writer)

    assert response.status_code == 204
    assert names(client.get(url(), headers=writer).json()["data"]) == ["Kept"]
    deleted = client.get(url(), headers=writer, params={"status": "deleted"}).json()["data"]
    assert [(c["name"], c["status"]) for c in deleted] == [("Gone", "deleted")]
    # Like a deleted account, a deleted contact can no longer be read or changed.
    assert_problem(client.get(f"{url()}/{gone['id']}", headers=writer), 404)
    assert_problem(
        client.patch(f"{url()}/{gone['id']}", headers=writer, json={"status": "active"}), 404
    )


def test_contacts_of_a_deleted_account_are_gone(client: TestClient, writer: Headers) -> None:
    contact = add(client, writer, name="A")
    client.delete("/api/v1/accounts/acme", headers=writer)

    assert_problem(client.get(url(), headers=writer), 404)
    assert_problem(client.get(f"{url()}/{contact['id']}", headers=writer), 404)


def test_role_filter(client: TestClient, writer: Headers) -> None:
    add(client, writer, name="Champ", is_champion=True)
    add(client, writer, name="Boss", is_decision_maker=True)
    add(client, writer, name="Star", is_star_user=True)
    add(client, writer, name="Both", is_champion=True, is_star_user=True)
    add(client, writer, name="Nobody")
    add(client, writer, account="globex", name="Elsewhere", is_champion=True)

    def by_role(role: str) -> list[str | None]:
        response = client.get(url(), headers=writer, params={"role": role})
        assert response.status_code == 200, response.text
        return names(response.json()["data"])

    assert by_role("champion") == ["Champ", "Both"]
    assert by_role("decision_maker") == ["Boss"]
    assert by_role("star_user") == ["Star", "Both"]
    assert error_fields(client.get(url(), headers=writer, params={"role": "ceo"})) == {"role"}


def test_text_search_on_name_and_email(client: TestClient, writer: Headers) -> None:
    add(client, writer, name="佐藤 花子", email="hanako@acme.example")
    add(client, writer, name="Ken Suzuki", email="ken@acme.example")

    def search(q: str) -> list[str | None]:
        return names(client.get(url(), headers=writer, params={"q": q}).json()["data"])

    assert search("花子") == ["佐藤 花子"]
    assert search("SUZUKI") == ["Ken Suzuki"]
    assert search("hanako@") == ["佐藤 花子"]
    assert search("acme") == ["佐藤 花子", "Ken Suzuki"]


def test_list_is_empty_for_an_account_without_contacts(client: TestClient, reader: Headers) -> None:
    assert client.get(url(), headers=reader).json() == {"data": [], "next_cursor": None}


def test_pagination_walks_every_contact_once_in_creation_order(
    client: TestClient, writer: Headers
) -> None:
    for i in range(7):
        add(client, writer, name=f"P{i}")
    add(client, writer, account="globex", name="Other")

    exact = client.get(url(), headers=writer, params={"limit": 7}).json()
    assert exact["next_cursor"] is None
    assert len(exact["data"]) == 7
    for limit in (1, 3, 6):
        assert names(walk(client, url(), writer, limit=limit)) == [f"P{i}" for i in range(7)]


def test_pagination_skips_deleted_contacts(client: TestClient, writer: Headers) -> None:
    contacts = [add(client, writer, name=f"P{i}") for i in range(5)]
    client.delete(f"{url()}/{contacts[2]['id']}", headers=writer)

    assert names(walk(client, url(), writer, limit=2)) == ["P0", "P1", "P3", "P4"]


def test_bad_paging_parameters_are_422(
    client: TestClient, writer: Headers, subtests: pytest.Subtests
) -> None:
    add(client, writer, name="P0")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": encode_cursor(Cursor("name", "P1", 1))}, "cursor"),
        ({"cursor": "WyJpZCIsMSwieCJd"}, "cursor"),  # ["id", 1, "x"]
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
    ]
    for params, field in cases:
        with subtests.test(params=params):
            assert error_fields(client.get(url(), headers=writer, params=params)) == {field}
