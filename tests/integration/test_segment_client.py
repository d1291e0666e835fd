"""The official Segment SDK for Python, unmodified, against a live Bansō on a loopback port.

Also: a proxy that drops the server's first response after the server has committed, so the SDK
retries the same messages (counted once), and threads racing overlapping batches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from segment.analytics.client import Client

from app.config import Settings
from app.main import create_app
from tests.builders import post_source
from tests.conftest import AS_OF
from tests.helpers import Headers
from tests.live import LiveServer, free_port, live_server
from tests.segment_messages import DAY, basic, drain, usage_on

T = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 10:00 in Tokyo, the clock's day


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    application = create_app(settings)
    application.state.clock = lambda: AS_OF
    return application


@pytest.fixture
def server(app: FastAPI) -> Iterator[LiveServer]:
    with live_server(app) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return auth("admin")


@pytest.fixture
def source(api: httpx.Client, admin: Headers) -> dict[str, Any]:
    return post_source(api, admin, "python-sdk")


def sdk(write_key: str, host: str, **options: Any) -> tuple[Client, list[Any]]:
    """A Segment client that flushes quickly and records upload errors instead of logging them."""
    errors: list[Any] = []
    client = Client(
        write_key, host=host, upload_interval=0.05, max_retries=3, timeout=10,
        on_error=lambda exc, batch: errors.append((exc, batch)), **options,
    )
    return client, errors


def finish(client: Client) -> None:
    client.flush()
    client.join()


def stats(api: httpx.Client, admin: Headers, source_id: int) -> dict[str, Any]:
    response = api.get(f"/api/v1/sources/{source_id}/stats", headers=admin)
    assert response.status_code == 200, response.text
    days: dict[str, Any] = response.json()["days"][0]
    return days


# -- an unmodified SDK -------------------------------------------------------------------------


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_identify_group_track_and_page_from_the_sdk_show_up(
    app: FastAPI, server: LiveServer, api: httpx.Client, admin: Headers, source: dict[str, Any],
    gzip: bool,
) -> None:
    client, errors = sdk(source["write_key"], server.url, gzip=gzip)

    client.identify("u1", {"email": "hanako@example.jp", "name": "山田 花子", "title": "CTO"}, timestamp=T)
    client.track("u1", "Report Built", {"format": "pdf"}, timestamp=T)  # before the group call
    client.group("u1", "acme", {"name": "Acme 株式会社", "industry": "manufacturing", "plan": "pro",
                                "employees": 120, "seats": 50}, timestamp=T)
    client.group("u2", "acme", {}, timestamp=T)
    client.track("u1", "Report Built", timestamp=T)
    client.track("u2", "Report Built", timestamp=T)
    client.track("u2", "Export", {"rows": 10}, timestamp=T)
    client.track(anonymous_id="visitor-1", event="Report Built", context={"groupId": "acme"}, timestamp=T)
    client.page("u1", name="Dashboard", properties={"path": "/dash"}, timestamp=T)
    client.screen("u2", name="Home", timestamp=T)
    finish(client)
    drain(app)

    assert errors == []
    acme = api.get("/api/v1/accounts/acme", headers=admin).json()
    assert (acme["name"], acme["industry"], acme["plan"], acme["licensed_seats"]) == (
        "Acme 株式会社", "manufacturing", "pro", 50,
    )
    listed = api.get("/api/v1/accounts/acme/contacts", headers=admin).json()["data"]
    people = {c["external_id"]: c for c in listed}
    assert set(people) == {"u1", "u2"}
    assert (people["u1"]["email"], people["u1"]["name"], people["u1"]["title"]) == (
        "hanako@example.jp", "山田 花子", "CTO",
    )
    day = usage_on(api, admin, "acme")
    assert day["events"] == {"Report Built": 4, "Export": 1, "page:Dashboard": 1, "screen:Home": 1}
    assert day["distinct_users"] == {"Report Built": 3, "Export": 1, "page:Dashboard": 1, "screen:Home": 1}
    assert (day["event_count"], day["active_users"]) == (7, 3)
    assert api.get("/api/v1/ingest/pending", headers=admin).json()["pending_events"] == 0
    assert stats(api, admin, source["id"]) == {"day": DAY, "accepted": 10, "rejected": 0, "duplicates": 0}


def test_the_sdk_with_a_revoked_key_gets_401_and_does_not_retry(
    server: LiveServer, api: httpx.Client, admin: Headers, source: dict[str, Any]
) -> None:
    assert api.delete(f"/api/v1/sources/{source['id']}", headers=admin).status_code == 200
    client, errors = sdk(source["write_key"], server.url)

    client.track("u1", "Report Built", timestamp=T)
    finish(client)

    assert [exc.status for exc, _ in errors] == [401]


# -- a response lost after the commit ----------------------------------------------------------


class DroppingProxy:
    """Forwards TCP connections to ``upstream``; the first ``drop`` responses are swallowed.

    When the server's first response bytes arrive, the server has already committed (it answers
    only after the commit); the proxy then closes the client's connection without a reply, as a
    network failure would, so the client cannot tell whether its batch was stored.
    """

    def __init__(self, upstream_port: int, *, drop: int = 1) -> None:
        self.upstream_port = upstream_port
        self.to_drop = drop
        self.dropped = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closing = False
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []

    def __enter__(self) -> DroppingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.closing = True
        _close(self.listener)  # shutdown() wakes the thread blocked in accept(); close() does not
        for sock in self.sockets:  # keep-alive connections the client still holds open
            _close(sock)
        for thread in self.threads:
            thread.join(5)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [downstream, upstream]
            self._spawn(self._requests, downstream, upstream)
            self._spawn(self._responses, upstream, downstream)

    def _requests(self, downstream: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := downstream.recv(65536):
                with self.lock:
                    self.requests += data.count(b"POST /v1/batch ")
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(upstream)

    def _responses(self, upstream: socket.socket, downstream: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                with self.lock:
                    drop = data.startswith(b"HTTP/") and self.dropped < self.to_drop
                    if drop:
                        self.dropped += 1
                if drop:
                    return  # closing both sides below: the client never sees the reply
                downstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(downstream)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_a_retry_after_a_lost_response_is_counted_once(
    app: FastAPI, server: LiveServer, api: httpx.Client, admin: Headers, source: dict[str, Any],
    gzip: bool,
) -> None:
    with DroppingProxy(server.port, drop=1) as proxy:
        client, errors = sdk(source["write_key"], proxy.url, gzip=gzip, upload_size=100)
        client.group("u1", "acme", {"name": "Acme"}, timestamp=T)
        for i in range(20):
            client.track(f"u{i % 3}", "Report Built", timestamp=T)
        client.group("u2", "acme", timestamp=T)
        client.group("u0", "acme", timestamp=T)
        finish(client)
    drain(app)

    assert errors == []
    assert proxy.dropped == 1
    assert proxy.requests >= 2  # the dropped attempt and its retry
    day = usage_on(api, admin, "acme")
    assert (day["event_count"], day["active_users"]) == (20, 3)
    assert day["distinct_users"] == {"Report Built": 3}
    counted = stats(api, admin, source["id"])
    assert counted["accepted"] == 23
    assert counted["duplicates"] >= 1  # the retry brought messages the server already had


def test_every_dropped_response_is_retried_until_one_arrives(
    app: FastAPI, server: LiveServer, api: httpx.Client, admin: Headers, source: dict[str, Any]
) -> None:
    with DroppingProxy(server.port, drop=2) as proxy:
        client, errors = sdk(source["write_key"], proxy.url)
        client.group("u1", "acme", timestamp=T)
        client.track("u1", "Report Built", timestamp=T)
        client.track("u1", "Export", timestamp=T)
        finish(client)
    drain(app)

    assert errors == []
    assert proxy.dropped == 2
    assert usage_on(api, admin, "acme")["events"] == {"Report Built": 1, "Export": 1}


# -- concurrency -------------------------------------------------------------------------------


def _pool() -> list[dict[str, Any]]:
    """Messages for 4 accounts of 3 users each: group calls, identifies and 120 tracks."""
    messages: list[dict[str, Any]] = []
    when = "2026-11-23T01:00:00Z"
    for a in range(4):
        for u in range(3):
            user = f"a{a}-u{u}"
            messages.append({"type": "group", "messageId": f"g-{user}", "userId": user,
                             "groupId": f"acct-{a}", "traits": {"name": f"Account {a}"}, "timestamp": when})
            messages.append({"type": "identify", "messageId": f"i-{user}", "userId": user,
                             "traits": {"email": f"{user}@example.jp"}, "timestamp": when})
    for n in range(120):
        a, u = n % 4, (n // 4) % 3
        messages.append({"type": "track", "messageId": f"t-{n}", "userId": f"a{a}-u{u}",
                         "event": f"Event {n % 5}", "timestamp": when})
    return messages


def test_threads_racing_overlapping_batches_count_exactly(
    app: FastAPI, server: LiveServer, api: httpx.Client, admin: Headers, source: dict[str, Any]
) -> None:
    pool = _pool()
    threads = 6
    barrier = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(seed: int) -> None:
        messages = list(pool)
        random.Random(seed).shuffle(messages)
        batches = [messages[i:i + 25] for i in range(0, len(messages), 25)]
        with httpx.Client(base_url=server.url, timeout=30, headers=basic(source["write_key"])) as http:
            barrier.wait()
            for batch in batches:
                for _attempt in range(20):  # as an SDK does: retry 429/5xx, honouring Retry-After
                    response = http.post("/v1/batch", json={"batch": batch})
                    with lock:
                        statuses.append(response.status_code)
                    if response.status_code == 200:
                        break
                    if response.status_code not in (429, 503):
                        return

    workers = [threading.Thread(target=sender, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    drain(app)

    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) == threads * -(-len(pool) // 25)
    counted = stats(api, admin, source["id"])
    assert counted["accepted"] == len(pool)
    for a in range(4):
        day = usage_on(api, admin, f"acct-{a}")
        assert day["event_count"] == 30
        assert day["active_users"] == 3
        assert day["events"] == {f"Event {e}": 6 for e in range(5)}
        assert day["distinct_users"] == {f"Event {e}": 3 for e in range(5)}
        people = api.get(f"/api/v1/accounts/acct-{a}/contacts", headers=admin).json()["data"]
        assert sorted(p["email"] for p in people) == [f"a{a}-u{u}@example.jp" for u in range(3)]
    assert api.get("/api/v1/ingest/pending", headers=admin).json()["pending_events"] == 0

