"""API keys: every /api/v1 operation × every kind of credential, plus the keys API itself.

The operations come from the app's route table, so a new route joins the matrix by existing
(hidden from the OpenAPI document or not). Each route declares its scope through a
``require_scope`` dependency; the matrix checks that the declaration is at least the baseline
(reads need read, changes need write, key management needs admin) and that the route enforces
exactly what it declares.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import scheduler
from app.auth import api_keys
from app.auth.security import token_prefix
from app.models import ApiKey
from tests.builders import AS_OF, make_account, make_contact, make_user
from tests.helpers import Headers, assert_problem, schema_app

SCOPES = ("read", "write", "admin")
CREDENTIALS = ("none", "bad", "revoked", "read", "write", "admin")


SCHEMA_APP = schema_app()




#: POSTs that are queries with a body too rich for a query string: they compute and store
#: nothing, so a read key may call them. Adding one here is a reviewed decision.
QUERY_POSTS = frozenset({
    ("POST", "/api/v1/health-models/{model_id}/preview"),
    ("POST", "/api/v1/health-models/{model_id}/backtest"),
})


def baseline_scope(method: str, path: str) -> str:
    """The least scope an operation may ask for."""
    if path.startswith("/api/v1/api-keys"):
        return "admin"
    if method in {"GET", "HEAD"} or (method, path) in QUERY_POSTS:
        return "read"
    return "write"


def _scopes_in(dependant: Dependant) -> set[str]:
    found = set()
    for dep in dependant.dependencies:
        match = re.fullmatch(r"require_(\w+)_scope", getattr(dep.call, "__name__", ""))
        if match:
            found.add(match.group(1))
        found |= _scopes_in(dep)
    return found


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """(full path, route) for every FastAPI route, through included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x nests routers
    except ImportError:  # older FastAPI flattens included routers into app.routes
        return [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    return [
        (ctx.path, ctx.original_route) for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
    ]


ROUTES = api_routes(SCHEMA_APP)


def api_operations() -> list[tuple[str, str]]:
    """Every (METHOD, path template) under /api/v1, from the app's route table: a route left
    out of the OpenAPI document is in the matrix all the same."""
    return sorted(
        (method, path) for path, route in ROUTES if path.startswith("/api/v1/")
        for method in route.methods if method != "HEAD"
    )


OPERATIONS = api_operations()


def declared_scope(method: str, path: str) -> str | None:
    """The scope the route's ``require_scope`` dependency asks for (None if it has none)."""
    for full_path, route in ROUTES:
        if full_path == path and method in route.methods:
            scopes = _scopes_in(route.dependant)
            assert len(scopes) <= 1, f"{method} {path} declares several scopes: {scopes}"
            return scopes.pop() if scopes else None
    raise AssertionError(f"no route for {method} {path}")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_declares_at_least_its_baseline_scope(method: str, path: str) -> None:
    declared = declared_scope(method, path)

    assert declared in SCOPES, f"{method} {path} has no API key dependency"
    assert SCOPES.index(declared) >= SCOPES.index(baseline_scope(method, path))


def test_the_matrix_covers_the_whole_api() -> None:
    assert len(OPERATIONS) >= 14
    assert ("GET", "/api/v1/accounts") in OPERATIONS
    assert ("DELETE", "/api/v1/accounts/{account_id}/contacts/{contact_id}") in OPERATIONS
    assert ("POST", "/api/v1/api-keys") in OPERATIONS


def test_no_api_route_hides_from_the_openapi_document() -> None:
    hidden = [
        path for path, route in ROUTES if path.startswith("/api") and not route.include_in_schema
    ]
    assert hidden == []


@pytest.fixture
def world(engine: Engine, make_key: Callable[[str], str]) -> dict[str, str]:
    """An account with a contact, a spare key to revoke, and one credential of each kind."""
    with Session(engine) as s:
        make_account(s, id="acme")
        contact = make_contact(s, account_id="acme", name="Sato")
        spare, _ = api_keys.create_api_key(s, name="spare", scope="read", now=AS_OF)
        s.commit()
        params = {"account_id": "acme", "contact_id": str(contact.id), "key_id": str(spare.id)}
    revoked = make_key("admin")
    with Session(engine) as s:
        api_keys.revoke_api_key(s, ref=token_prefix(revoked) or "", now=AS_OF)
        s.commit()
    tokens = {
        "bad": "bsk_00000000_" + "x" * 43,
        "revoked": revoked,
        **{scope: make_key(scope) for scope in SCOPES},
    }
    return params | {f"token:{k}": v for k, v in tokens.items()}


def _concrete(path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), "x"), path)


def _check(
    client: TestClient, world: dict[str, str], method: str, path: str, credential: str
) -> None:
    headers = {}
    if credential != "none":
        headers["Authorization"] = f"Bearer {world['token:' + credential]}"
    body = {} if method in {"POST", "PUT", "PATCH"} else None

    response = client.request(method, _concrete(path, world), headers=headers, json=body)

    need = declared_scope(method, path) or "admin"
    if credential in {"none", "bad", "revoked"}:
        problem = assert_problem(response, 401)
        assert problem["type"] == "urn:bansou:problem:not-authenticated"
        assert response.headers["www-authenticate"] == "Bearer"
    elif SCOPES.index(credential) < SCOPES.index(need):
        problem = assert_problem(response, 403)
        assert problem["type"] == "urn:bansou:problem:not-permitted"
        assert need in problem["detail"]
    else:
        assert response.status_code not in {401, 403}, response.text
        assert response.status_code < 500, response.text


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_auth_matrix(
    client: TestClient, world: dict[str, str], subtests: pytest.Subtests, method: str,
    path: str,
) -> None:
    """Each credential is a subtest: one database per operation keeps the matrix affordable on
    PostgreSQL. Refused credentials go first and change nothing; of the accepted ones only the
    first can change data, and later ones only need to get past authentication."""
    for credential in CREDENTIALS:
        with subtests.test(credential=credential):
            _check(client, world, method, path, credential)


def test_keys_of_another_shape_are_401(client: TestClient, subtests: pytest.Subtests) -> None:
    shapes = ["Bearer abc", "Bearer ", "Bearer bsk_00000000", "bsk_0a1b2c3d_secret",
              "Basic dXNlcjpwYXNz", "Token bsk_0a1b2c3d_secret"]
    for authorization in shapes:
        with subtests.test(authorization=authorization):
            response = client.get("/api/v1/accounts", headers={"Authorization": authorization})

            assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"


def test_a_real_key_with_one_character_changed_is_401(
    client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("admin")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    response = client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {tampered}"})

    assert_problem(response, 401)


def test_scheme_is_case_insensitive(client: TestClient, make_key: Callable[[str], str]) -> None:
    key = make_key("read")

    response = client.get("/api/v1/accounts", headers={"Authorization": f"bearer {key}"})

    assert response.status_code == 200


def _stored(engine: Engine, secret: str) -> ApiKey:
    with Session(engine) as s:
        return s.exec(select(ApiKey).where(ApiKey.prefix == token_prefix(secret))).one()


def test_last_use_is_noted_without_a_write_then_stored_by_the_flush(
    app: FastAPI, client: TestClient, engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("read")
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    assert client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    # The GET wrote nothing; the key list already shows the use noted in this process.
    assert _stored(engine, key).last_used_at is None
    listed = {k["prefix"]: k for k in client.get("/api/v1/api-keys", headers=admin).json()["data"]}
    assert listed[_stored(engine, key).prefix]["last_used_at"] == AS_OF.isoformat().replace("+00:00", "Z")

    later = AS_OF + dt.timedelta(minutes=5)
    app.state.clock = lambda: later
    client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {key}"})
    assert scheduler.flush_last_used(engine, app.state.last_used) == 2  # both keys were used
    assert _stored(engine, key).last_used_at == later
    # A note older than the stored time never moves it back.
    app.state.last_used.note_key(_stored(engine, key).id, AS_OF)
    scheduler.flush_last_used(engine, app.state.last_used)
    assert _stored(engine, key).last_used_at == later


def test_a_key_is_stored_only_as_a_digest(engine: Engine, make_key: Callable[[str], str]) -> None:
    key = make_key("read")
    stored = _stored(engine, key)

    assert key not in stored.secret_hash
    assert len(stored.secret_hash) == 64
    assert stored.prefix in key


# -- the keys API ------------------------------------------------------------------------------


def test_admin_issues_a_key_that_works_and_is_never_shown_again(
    client: TestClient, auth: Callable[[str], Headers]
) -> None:
    admin = auth("admin")

    response = client.post("/api/v1/api-keys", headers=admin, json={"name": " crm ", "scope": "write"})

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "crm"
    assert created["scope"] == "write"
    assert created["key"].startswith(created["prefix"] + "_")
    new = {"Authorization": f"Bearer {created['key']}"}
    assert client.post("/api/v1/accounts", headers=new, json={"id": "a", "name": "A"}).status_code == 201
    assert_problem(client.get("/api/v1/api-keys", headers=new), 403)

    listing = client.get("/api/v1/api-keys", headers=admin)
    assert listing.status_code == 200
    assert created["key"] not in listing.text
    assert "secret_hash" not in listing.text
    mine = [k for k in listing.json()["data"] if k["id"] == created["id"]]
    assert mine[0]["prefix"] == created["prefix"]
    assert "key" not in mine[0]


def test_api_keys_are_listed_newest_first(client: TestClient, auth: Callable[[str], Headers]) -> None:
    admin = auth("admin")
    for name in ("first", "second"):
        client.post("/api/v1/api-keys", headers=admin, json={"name": name, "scope": "read"})

    names = [k["name"] for k in client.get("/api/v1/api-keys", headers=admin).json()["data"]]

    assert names[:2] == ["second", "first"]


def test_bad_key_requests_are_422(
    client: TestClient, auth: Callable[[str], Headers], subtests: pytest.Subtests
) -> None:
    admin = auth("admin")
    cases = [({"name": "x", "scope": "root"}, "scope"), ({"name": "  ", "scope": "read"}, "name"),
             ({"scope": "read"}, "name")]
    for body, field in cases:
        with subtests.test(body=body):
            response = client.post("/api/v1/api-keys", headers=admin, json=body)

            assert {e["field"] for e in assert_problem(response, 422)["errors"]} == {field}


def test_revoking_a_key_takes_effect_at_once(
    client: TestClient, auth: Callable[[str], Headers], make_key: Callable[[str], str],
    engine: Engine,
) -> None:
    victim = make_key("read")
    victim_id = _stored(engine, victim).id
    admin = auth("admin")

    response = client.delete(f"/api/v1/api-keys/{victim_id}", headers=admin)

    assert response.status_code == 200, response.text
    assert dt.datetime.fromisoformat(response.json()["revoked_at"]) == AS_OF
    assert_problem(
        client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {victim}"}), 401
    )
    again = client.delete(f"/api/v1/api-keys/{victim_id}", headers=admin)
    assert again.json()["revoked_at"] == response.json()["revoked_at"]
    assert_problem(client.delete("/api/v1/api-keys/999999", headers=admin), 404)


def test_users_list_shows_no_password_hashes(
    client: TestClient, session: Session, auth: Callable[[str], Headers]
) -> None:
    make_user(session, email="b@example.com", name="B")
    make_user(session, email="a@example.com", name="A", role="admin")
    session.commit()

    response = client.get("/api/v1/users", headers=auth("read"))

    assert response.status_code == 200
    assert [(u["email"], u["role"]) for u in response.json()["data"]] == [
        ("a@example.com", "admin"), ("b@example.com", "csm"),
    ]
    assert "password" not in response.text
    assert "argon2" not in response.text
