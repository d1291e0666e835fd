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
from collections.abc import Iterator
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

from app.auth import api_keys
from app.config import Settings
from tests.builders import make_account
from tests.conftest import AS_OF, DatabaseFactory, app_for
from tests.helpers import schema_app
from tests.views.data import load_book

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 5

#: Requests made, printed at the end of the module (shown with ``-s``).
SEEN: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_figures() -> Iterator[None]:
    yield
    print(f"\nfuzz figures: {dict(SEEN)}")


# -- the app under test ----------------------------------------------------------------------


def fuzz_world(session: Session) -> str:
    """The small book, accounts ``0`` and ``a``, and an admin key; returns the key."""
    load_book(session)
    make_account(session, id="0", name="Zero")
    make_account(session, id="a", name="A")
    _, secret = api_keys.create_api_key(session, name="fuzz", scope="admin", now=AS_OF)
    return secret


@pytest.fixture
def fuzz_app(databases: DatabaseFactory, engine: Engine, settings: Settings) -> FastAPI:
    secret = databases.load(engine, fuzz_world)
    # The test's engine: schemathesis runs the lifespan once and never ends it, so the engine
    # must be one this test disposes of.
    app = app_for(settings, engine=engine)
    app.state.clock = lambda: AS_OF + dt.timedelta(seconds=SEEN.total())
    app.state.fuzz_key = secret
    return app


# Each test's requests go to its own app (``case.call(app=...)``) over its own database.
schema = schemathesis.openapi.from_asgi("/openapi.json", schema_app())
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
    # Every 5xx fails: the in-process client re-raises what the app did not handle, and
    # ``not_a_server_error`` catches a 5xx answered as a response.
    response = case.call(headers=headers, app=fuzz_app)
    case.validate_response(response, checks=CHECKS, headers=headers)
