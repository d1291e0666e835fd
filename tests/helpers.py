"""Assertions shared by the HTTP tests: problem+json bodies and paginated lists."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.config import Settings
from app.errors import PROBLEM_JSON
from app.main import create_app
from tests.conftest import AS_OF, ENGINE

Headers = dict[str, str]


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"]
    assert "Traceback" not in response.text
    return body


def error_fields(response: Response) -> set[str]:
    """The fields a 422 problem names in its ``errors`` list."""
    body = assert_problem(response, 422)
    assert body["type"] == "urn:bansou:problem:validation-error"
    return {e["field"] for e in body["errors"]}


def walk(client: TestClient, path: str, headers: Headers, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next_cursor`` until it is null."""
    items: list[dict[str, Any]] = []
    cursor = None
    limit = int(params.get("limit", 50))
    for _ in range(1000):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get(path, headers=headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        items.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["data"]) == limit, "only the last page may be short"
    raise AssertionError("pagination did not end")


@contextmanager
def write_lock_held(db_url: str) -> Iterator[None]:
    """Another connection holding the database's write lock (on PostgreSQL: every table a read
    with a key or a session could write to, locked against writes; reads still pass)."""
    if ENGINE == "sqlite":
        conn = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE api_key, web_session IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


@cache
def schema_app() -> FastAPI:
    """One app per run for reading the route table and the OpenAPI document (FastAPI prepares
    both once per app, in seconds). Only its document is requested (by schemathesis, which runs
    its lifespan: no scheduler, and an in-memory database no table is read from)."""
    return create_app(Settings(
        env="test", database_url="sqlite://", secret_key="schema-only-secret-key-0123",
        scheduler_enabled=False,
    ))


def short_waits(settings: Settings) -> FastAPI:
    """The app with a 200 ms SQLite busy timeout: a read that tried to write while another
    connection holds the write lock would fail fast (503) instead of waiting for it."""
    app = create_app(settings.model_copy(update={"sqlite_busy_timeout_ms": 200}))
    app.state.clock = lambda: AS_OF
    return app
