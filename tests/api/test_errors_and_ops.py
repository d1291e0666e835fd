"""Errors as RFC 9457 problems, request ids, security headers, body limits, health and docs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import DatabaseFactory
from tests.helpers import Headers, assert_problem

SWAGGER_JS = "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js"


# -- problems ----------------------------------------------------------------------------------


def test_unknown_route_is_404_problem(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")

    body = assert_problem(response, 404)
    assert body["instance"] == "/api/v1/nothing-here"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_405_problem(client: TestClient, auth: Callable[[str], Headers]) -> None:
    response = client.put("/api/v1/accounts", headers=auth("admin"), json={})

    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_problem_carries_the_request_id(client: TestClient, auth: Callable[[str], Headers]) -> None:
    response = client.get(
        "/api/v1/accounts/nope", headers={**auth("read"), "X-Request-ID": "trace-42"}
    )

    assert assert_problem(response, 404)["request_id"] == "trace-42"


@pytest.fixture
def crashing_app(settings: Settings) -> FastAPI:
    application = create_app(settings)

    @application.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    return application


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    logger = logging.getLogger("bansou.errors")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_unhandled_exception_is_500_problem_without_internals(
    crashing_app: FastAPI, error_log: list[logging.LogRecord]
) -> None:
    with TestClient(crashing_app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")

    body = assert_problem(response, 500)
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    assert request_id in body["detail"]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "File \"" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    # The server side keeps the whole story, under the same request id.
    [record] = [r for r in error_log if r.exc_info]
    assert record.__dict__["request_id"] == request_id
    assert isinstance(record.exc_info[1], RuntimeError)  # type: ignore[index]


def test_unhandled_exception_keeps_the_callers_request_id(crashing_app: FastAPI) -> None:
    with TestClient(crashing_app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"
    assert assert_problem(response, 500)["request_id"] == "abc-123"


# -- request ids and headers -------------------------------------------------------------------


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "req.2026-11-23_0001"})

    assert response.headers["x-request-id"] == "req.2026-11-23_0001"


def test_missing_or_unsafe_request_id_is_replaced(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for given in (None, "", "has spaces", "x" * 129, "<script>"):
        with subtests.test(given=given):
            headers = {} if given is None else {"X-Request-ID": given}

            response = client.get("/healthz", headers=headers)

            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_each_request_gets_its_own_id(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}

    assert len(ids) == 3


def test_security_headers_on_every_response(
    client: TestClient, subtests: pytest.Subtests
) -> None:
    for path in ("/healthz", "/api/v1/accounts", "/api/v1/nothing", "/docs", SWAGGER_JS):
        with subtests.test(path=path):
            headers = client.get(path).headers

            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            csp = headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "script-src 'self'" in csp
            assert "unsafe-eval" not in csp


def test_only_the_docs_page_allows_inline_styles(client: TestClient) -> None:
    assert "'unsafe-inline'" in client.get("/docs").headers["content-security-policy"]
    assert "'unsafe-inline'" not in client.get("/healthz").headers["content-security-policy"]


# -- body size ---------------------------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    application = create_app(settings.model_copy(update={"max_body_bytes": 1024}))
    with TestClient(application, raise_server_exceptions=False) as c:
        yield c


def _big_body(size: int) -> bytes:
    return ('{"id": "big", "name": "Big", "traits": {"notes": "' + "x" * size + '"}}').encode()


def test_body_over_the_limit_is_413_problem(
    small_client: TestClient, auth: Callable[[str], Headers]
) -> None:
    response = small_client.post(
        "/api/v1/accounts", content=_big_body(2000),
        headers={**auth("write"), "Content-Type": "application/json"},
    )

    body = assert_problem(response, 413)
    assert body["type"] == "urn:bansou:problem:payload-too-large"
    assert "1024" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert small_client.get("/api/v1/accounts", headers=auth("read")).json()["data"] == []


def test_streamed_body_over_the_limit_is_413_problem(
    small_client: TestClient, auth: Callable[[str], Headers]
) -> None:
    def chunks() -> Iterator[bytes]:
        data = _big_body(4000)
        for start in range(0, len(data), 256):
            yield data[start:start + 256]

    response = small_client.post(
        "/api/v1/accounts", content=chunks(),
        headers={**auth("write"), "Content-Type": "application/json"},
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_problem(response, 413)
    assert small_client.get("/api/v1/accounts", headers=auth("read")).json()["data"] == []


def test_body_under_the_limit_is_accepted(
    small_client: TestClient, auth: Callable[[str], Headers]
) -> None:
    response = small_client.post(
        "/api/v1/accounts", content=_big_body(900),
        headers={**auth("write"), "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text


def test_streamed_body_under_the_limit_is_accepted(
    small_client: TestClient, auth: Callable[[str], Headers]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"id": "small", '
        yield b'"name": "Small"}'

    response = small_client.post(
        "/api/v1/accounts", content=chunks(),
        headers={**auth("write"), "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text


# -- health ------------------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema_revision"] == body["head_revision"] is not None


@pytest.fixture
def blank_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh(migrated=False)
    yield url
    databases.drop(url)


def test_readyz_is_503_on_an_unmigrated_database(settings: Settings, blank_url: str) -> None:
    application = create_app(settings.model_copy(update={"database_url": blank_url}))

    with TestClient(application, raise_server_exceptions=False) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["schema_revision"] is None
    assert body["head_revision"]


def test_readyz_is_503_when_the_database_is_unreachable(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    missing = tmp_path_factory.mktemp("gone") / "no" / "such" / "dir" / "bansou.db"
    application = create_app(settings.model_copy(update={"database_url": f"sqlite:///{missing}"}))

    with TestClient(application, raise_server_exceptions=False) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["database"].startswith("unreachable")
    assert str(missing) not in response.text


# -- OpenAPI and docs --------------------------------------------------------------------------


def test_openapi_lists_the_account_paths(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/accounts"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/accounts/{account_id}"])
    assert "/api/v1/accounts/{account_id}/contacts" in paths
    assert "/healthz" not in paths


def test_docs_page_uses_only_vendored_assets(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert SWAGGER_JS in html
    assert "/static/docs-init.js" in html
    assert "/openapi.json" in html
    host = str(client.base_url).rstrip("/")
    external = [u for u in re.findall(r"https?://[^\s\"'<>]+", html) if not u.startswith(host)]
    assert external == []
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_vendored_docs_assets_are_served(client: TestClient, subtests: pytest.Subtests) -> None:
    assets = [(SWAGGER_JS, "javascript"), (SWAGGER_JS.replace("-bundle.js", ".css"), "css"),
              ("/static/docs-init.js", "javascript")]
    for path, kind in assets:
        with subtests.test(path=path):
            response = client.get(path)

            assert response.status_code == 200
            assert kind in response.headers["content-type"]
            assert len(response.content) > 100
