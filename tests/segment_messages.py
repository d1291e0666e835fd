"""Segment-format messages with fixed defaults, and readers for what ingestion stored."""

from __future__ import annotations

import base64
from typing import Any, Protocol

from fastapi import FastAPI

from app import scheduler
from app.ingest import applier

Headers = dict[str, str]

#: 2026-11-23 10:00 in Tokyo: the same day as the tests' clock (AS_OF, 18:00 in Tokyo).
WHEN = "2026-11-23T01:00:00Z"
DAY = "2026-11-23"


class _Getter(Protocol):
    def get(self, url: str, *, headers: Headers, params: dict[str, Any] | None = ...) -> Any: ...


def drain(app: FastAPI) -> applier.Applied:
    """Store everything ``/v1`` acknowledged, now: the applier's work, which a test waits for."""
    return scheduler.drain_ingest_log(app.state.engine, app.state.settings)


def basic(write_key: str) -> Headers:
    """HTTP Basic with the write key as user name and an empty password, as the SDKs send it."""
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def track(
    mid: str, user: str | None = "u1", event: str = "Report Built", *, group: str | None = None,
    ts: str | None = WHEN, **fields: Any,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "track", "messageId": mid, "userId": user, "event": event}
    if ts is not None:
        msg["timestamp"] = ts
    if group is not None:
        msg["context"] = {"groupId": group}
    return msg | fields


def group(mid: str, user: str | None, group_id: str, **traits: Any) -> dict[str, Any]:
    return {"type": "group", "messageId": mid, "userId": user, "groupId": group_id,
            "traits": traits, "timestamp": WHEN}


def identify(mid: str, user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": mid, "userId": user, "traits": traits,
            "timestamp": WHEN}


def usage_days(
    client: _Getter, headers: Headers, account: str, start: str = DAY, end: str = DAY
) -> dict[str, Any]:
    """The account's usage response for the range (``data`` keyed by day)."""
    response = client.get(
        f"/api/v1/accounts/{account}/usage", headers=headers, params={"from": start, "to": end}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["by_day"] = {row["day"]: row for row in body["data"]}
    return body


def usage_on(client: _Getter, headers: Headers, account: str, day: str = DAY) -> dict[str, Any]:
    """One day of the account's rollups: ``{day, active_users, event_count, events, distinct_users}``."""
    row: dict[str, Any] = usage_days(client, headers, account, day, day)["by_day"][day]
    return row
