"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every documented operation is called with generated requests (valid and invalid) and an admin
key, against a database holding a small book of business, so that path ids sometimes hit real
rows (accounts ``acme``, ``0`` and ``a``; integer ids 1–3). Each response must be no 5xx, a
documented status, of the documented content type and shape.

Runtime is bounded: a few examples per operation, derandomized (the same requests every run),
no shrinking.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.main import create_app
from app.services import api_keys
from tests.builders import make_account
from tests.conftest import AS_OF
from tests.views.data import load_book

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 5

# -- 5xx that are known and being fixed elsewhere ----------------------------------------------
# Remove an entry (and then this whole list) once its fix is merged: the test then holds the API
# to it. Each entry recognises the *request*; it only excuses a 5xx answer to it, never a schema
# violation or an undocumented 4xx.

_DATE = re.compile(r"^(\d{4,})-\d\d-\d\d")


def _values(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _values(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _values(value)
    else:
        yield node


def _inputs(case: Any) -> list[Any]:
    parts = (case.path_parameters, case.query, case.headers, case.body)
    return [v for part in parts if part is not None for v in _values(part)]


#: Known 5xx: name → does this request trigger it? Empty: every 5xx fails the test. (While a
#: fix is under way elsewhere, its case may be excused here by name, never by status alone.)
KNOWN_SERVER_ERRORS: dict[str, Callable[[Any], bool]] = {}
#: SQLite's "database is locked" is answered 503 (documented), so it needs no entry.

SEEN: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_figures() -> Iterator[None]:
    """Prints the requests made and the known failures excused (shown with ``-s``)."""
    yield
    print(f"\nfuzz figures: {dict(SEEN)}")


def known_server_error(case: Any, status: int) -> str | None:
    if status < 500:
        return None
    return next((name for name, hit in KNOWN_SERVER_ERRORS.items() if hit(case)), None)


# -- the app under test ----------------------------------------------------------------------


@pytest.fixture
def fuzz_app(engine: Engine, settings: Settings) -> FastAPI:
    with Session(engine, expire_on_commit=False) as session:
        load_book(session)
        make_account(session, id="0", name="Zero")
        make_account(session, id="a", name="A")
        _, secret = api_keys.create_api_key(session, name="fuzz", scope="admin", now=AS_OF)
        session.commit()
    # The test's engine: schemathesis runs the lifespan once and never ends it, so the engine
    # must be one this test disposes of.
    app = create_app(settings, engine=engine)
    app.state.clock = lambda: AS_OF + dt.timedelta(seconds=SEEN.total())
    app.state.fuzz_key = secret
    return app


def _schema_app() -> FastAPI:
    # Only for reading the document at collection time (schemathesis runs its lifespan, so no
    # scheduler): no table is ever touched.
    return create_app(
        Settings(
            env="test",
            database_url="sqlite://",
            secret_key="schema-only-secret-key-0123",
            scheduler_enabled=False,
        )
    )


# Each test's requests go to its own app (``case.call(app=...)``) over its own database.
schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app())
# The coverage phase (every boundary value of every parameter: ~40 requests an operation) takes
# minutes; it runs when BANSOU_FUZZ_COVERAGE=1, e.g. before a release. The generated examples
# (MAX_EXAMPLES an operation) always run.
schema.config.phases.coverage.enabled = os.environ.get("BANSOU_FUZZ_COVERAGE") == "1"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api(case: Any, fuzz_app: FastAPI) -> None:
    headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_key}"}
    SEEN["requests"] += 1
    try:
        response = case.call(headers=headers, app=fuzz_app)
    except Exception:  # the in-process client re-raises what the app did not handle (a 500)
        known = known_server_error(case, 500)
        if known is None:
            raise
        SEEN[known] += 1
        return
    known = known_server_error(case, response.status_code)
    if known is not None:
        SEEN[known] += 1
        return
    case.validate_response(response, checks=CHECKS, headers=headers)
