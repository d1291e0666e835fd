"""Page tests: the app with the small book loaded, and clients signed in as each role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.conftest import DatabaseFactory
from tests.views.data import ADMIN, CSM, PASSWORD, VIEWER, Book, load_book
from tests.views.lifecycle_data import load_lifecycle

HTML = {"Accept": "text/html", "Accept-Language": "en"}
HX = {**HTML, "HX-Request": "true"}
_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
def book(databases: DatabaseFactory, engine: Engine) -> Book:
    return databases.load(engine, load_book)


@pytest.fixture
def lifecycle(engine: Engine, book: Book) -> dict[str, int]:
    """Acme in Rescue with a signal and two open tasks (``tests.views.lifecycle_data``)."""
    with Session(engine, expire_on_commit=False) as session:
        ids = load_lifecycle(session)
        session.commit()
    return ids


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token the page at ``path`` hands this client."""
    match = _TOKEN.search(client.get(path, headers=HTML).text)
    assert match is not None, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> TestClient:
    response = client.post("/login", headers=HTML, follow_redirects=False, data={
        "email": email, "password": password, "csrf_token": csrf(client), "next": "/",
    })
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def as_user(app: FastAPI, client: TestClient, book: Book) -> Callable[[str], TestClient]:
    """A signed-in client for an email (each call a new browser). They share the app that
    ``client`` started: a second lifespan would replace the app's engine under the first."""

    def _make(email: str) -> TestClient:
        return sign_in(TestClient(app, raise_server_exceptions=False), email)

    return _make


@pytest.fixture
def csm(as_user: Callable[[str], TestClient]) -> TestClient:
    return as_user(CSM)


@pytest.fixture
def admin(as_user: Callable[[str], TestClient]) -> TestClient:
    return as_user(ADMIN)


@pytest.fixture
def viewer(as_user: Callable[[str], TestClient]) -> TestClient:
    return as_user(VIEWER)
