"""Concurrent writers on one database wait their turn (never 503), and reads never write."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import AS_OF
from tests.helpers import Headers, short_waits, write_lock_held
from tests.live import live_server

PATCHERS = 20


def _live_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.state.clock = lambda: AS_OF
    return app


def test_concurrent_stale_patches_of_one_goal_give_one_200_and_the_rest_412(
    client: TestClient, settings: Settings, writer: Headers
) -> None:
    assert (
        client.post("/api/v1/accounts", json={"id": "acme", "name": "Acme"}, headers=writer).status_code
        == 201
    )
    plan = client.post(
        "/api/v1/accounts/acme/success-plans", json={"title": "Onboarding"}, headers=writer
    ).json()
    goals = f"/api/v1/accounts/acme/success-plans/{plan['id']}/goals"
    created = client.post(
        goals,
        json={"title": "Live", "kind": "qualitative", "success_criterion": "Everyone uses it"},
        headers=writer,
    )
    goal_url, etag = f"{goals}/{created.json()['id']}", created.headers["ETag"]
    statuses: list[int] = []
    start = threading.Barrier(PATCHERS)

    def patch(n: int, base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            start.wait()
            response = http.patch(goal_url, json={"title": f"Live {n}"}, headers={**writer, "If-Match": etag})
            statuses.append(response.status_code)

    with live_server(_live_app(settings)) as server:
        threads = [threading.Thread(target=patch, args=(n, server.url)) for n in range(PATCHERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert collections.Counter(statuses) == {200: 1, 412: PATCHERS - 1}
    final = client.get(goal_url, headers=writer)
    assert final.headers["ETag"] == etag.replace("-v1", "-v2")


def test_a_read_with_an_api_key_succeeds_while_another_connection_holds_the_write_lock(
    settings: Settings, db_url: str, make_key: Callable[[str], str]
) -> None:
    headers = {"Authorization": f"Bearer {make_key('read')}"}
    app = short_waits(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/api/v1/accounts", headers=headers)  # warm: the first use is noted
        with write_lock_held(db_url):
            responses = [
                client.get(path, headers=headers)
                for path in ("/api/v1/accounts", "/api/v1/goals", "/api/v1/accounts/nobody")
            ]
        assert [r.status_code for r in responses] == [200, 200, 404]
