"""The OpenAPI document tells the truth: what generated clients need from it.

Structural rules over the whole document (so a new route is held to them by existing), and one
client generated with openapi-python-client and used against the app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from packaging.requirements import Requirement

from app.errors import PROBLEM_JSON
from tests.helpers import Headers, schema_app

METHODS = {"get", "put", "post", "patch", "delete"}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+){1,6}$")
#: Where JSON API operations live; everything else served by the app is a page or an asset.
API_PREFIXES = ("/api/", "/v1/")


SCHEMA = schema_app().openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, item in SCHEMA["paths"].items()
    for method, op in item.items()
    if method in METHODS
]
IDS = [f"{m} {p}" for m, p, _ in OPERATIONS]


def test_the_title_is_ascii_and_the_name_is_in_the_description() -> None:
    assert SCHEMA["info"]["title"] == "Banso API"
    assert "Bansō" in SCHEMA["info"]["description"]


def test_operation_ids_are_short_and_unique() -> None:
    ids = [op["operationId"] for _, _, op in OPERATIONS]

    assert [i for i in ids if not OPERATION_ID.match(i) or len(i) > 48] == []
    assert len(ids) == len(set(ids))
    by_route = {f"{m} {p}": op["operationId"] for m, p, op in OPERATIONS}
    assert by_route["GET /api/v1/accounts"] == "accounts_list"
    assert by_route["GET /api/v1/accounts/{account_id}"] == "account_get"
    assert by_route["GET /api/v1/accounts/{account_id}/health"] == "account_health_get"
    assert by_route["POST /api/v1/tasks/{task_id}/complete"] == "task_complete"


def test_component_names_are_unique_and_plain() -> None:
    names = list(SCHEMA["components"]["schemas"])

    assert [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", n) or "__" in n] == []
    assert "HTTPValidationError" not in names
    assert {"Problem", "ProblemError"} <= set(names)


def test_no_page_is_in_the_document() -> None:
    assert [p for p in SCHEMA["paths"] if not p.startswith(API_PREFIXES)] == []


def test_every_page_route_is_left_out_of_the_document() -> None:
    """Routers are included in several places (``app.main``, ``app.views``): whichever way a
    page comes in, it stays out of the API document."""
    shown = [
        ctx.path
        for ctx in iter_route_contexts(schema_app().routes)
        if isinstance(ctx.original_route, APIRoute)
        and ctx.include_in_schema
        and not str(ctx.path).startswith(API_PREFIXES)
    ]
    assert shown == []


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=IDS)
def test_every_error_is_a_documented_problem(method: str, path: str, op: dict[str, Any]) -> None:
    responses = op["responses"]

    assert "422" in responses
    for status, response in responses.items():
        if int(status) >= 400:
            schema = response["content"][PROBLEM_JSON]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, status
    if path.startswith("/api/"):
        assert {"401", "403", "503"} <= set(responses)
    if "{" in path:
        assert "404" in responses
    if "requestBody" in op:
        assert {"400", "413"} <= set(responses)
    headers = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
    if "if-match" in headers:
        assert {"412", "428"} <= set(responses)
    if "idempotency-key" in headers:
        assert "409" in responses


def test_the_csv_import_documents_its_body() -> None:
    body = SCHEMA["paths"]["/api/v1/imports/{kind}"]["post"]["requestBody"]

    assert body["required"] is True
    assert {"text/csv", "application/octet-stream"} <= set(body["content"])


def test_a_csv_import_may_be_sent_as_octet_stream(client: TestClient, auth: Callable[[str], Headers]) -> None:
    headers = {**auth("admin"), "Content-Type": "application/octet-stream"}

    response = client.post(
        "/api/v1/imports/accounts",
        headers=headers,
        content=b"id,name\nacme,Acme\n",
        params={"dry_run": "true"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 1


# -- a generated client ----------------------------------------------------------------------


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


#: Both tests of the generated client on one pytest-xdist worker: it is generated once.
ONE_CLIENT = pytest.mark.xdist_group("generated-client")


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """openapi-python-client's project for this document (its package is importable from it)."""
    work = tmp_path_factory.mktemp("client")
    (work / "openapi.json").write_text(json.dumps(SCHEMA))
    # The generator runs ruff on its output: the interpreter's bin directory goes on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    generated = subprocess.run(
        [_bin("openapi-python-client"), "generate", "--path", "openapi.json", "--meta", "setup"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    projects = [p for p in work.iterdir() if (p / "setup.py").is_file()]
    assert len(projects) == 1, generated.stdout
    return projects[0]


@pytest.mark.slow
@ONE_CLIENT
def test_the_generated_client_has_an_installable_name(generated_client: Path) -> None:
    """pip refuses a distribution name that is not PEP 508 (``bans-ō-client`` was not)."""
    name = re.search(r'name="([^"]+)"', (generated_client / "setup.py").read_text())

    assert name is not None
    assert name.group(1) == "banso-api-client"
    assert str(Requirement(name.group(1))) == "banso-api-client"


@pytest.mark.slow
@ONE_CLIENT
def test_a_generated_client_installs_and_parses_problems(
    generated_client: Path,
    app: FastAPI,
    client: TestClient,
    auth: Callable[[str], Headers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(generated_client))
    for module in [m for m in sys.modules if m.startswith("banso_api_client")]:
        monkeypatch.delitem(sys.modules, module)
    from banso_api_client import AuthenticatedClient  # type: ignore[import-not-found]
    from banso_api_client.api.accounts import account_get, accounts_list  # type: ignore[import-not-found]
    from banso_api_client.models import Problem  # type: ignore[import-not-found]

    client.headers.update(auth("read"))
    api = AuthenticatedClient(base_url=str(client.base_url), token="unused")
    api.set_httpx_client(client)

    listed = accounts_list.sync(client=api)
    missing = account_get.sync_detailed(client=api, account_id="nobody")

    assert listed is not None and listed.data == []
    assert missing.status_code == 404
    assert isinstance(missing.parsed, Problem)
    assert missing.parsed.status == 404
    assert missing.parsed.type_ == "urn:bansou:problem:not-found"


def test_the_document_is_the_recorded_contract() -> None:
    """The whole document equals the one recorded in ``tests/fixtures/openapi.json``.

    A change to the public contract is deliberate: regenerate the file with
    ``python -m tests.api.record_openapi`` and review its diff with the change.
    """
    recorded = json.loads((Path(__file__).parent.parent / "fixtures" / "openapi.json").read_text())

    assert json.loads(json.dumps(SCHEMA)) == recorded
