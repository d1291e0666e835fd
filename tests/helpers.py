"""Assertions shared by the HTTP tests: problem+json bodies and paginated lists."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from app.errors import PROBLEM_JSON

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
