"""The Segment-compatible tracking API (/v1) through the app: auth, bodies, limits, semantics."""

from __future__ import annotations

import gzip
import threading
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.api import segment as segment_api
from app.config import Settings
from app.ingest.outcomes import MAX_LOGGED_REJECTIONS
from app.ingest.segment import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from app.ingest.writer import LogWriter
from app.main import create_app
from tests import segment_messages
from tests.builders import post_source
from tests.conftest import AS_OF
from tests.helpers import Headers, assert_problem
from tests.segment_messages import DAY, WHEN, basic, drain, group, identify, track


@dataclass(frozen=True)
class SourceKey:
    id: int
    key: str


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return auth("admin")


def make_source(client: TestClient, admin: Headers, name: str = "web-app") -> SourceKey:
    body = post_source(client, admin, name)
    return SourceKey(body["id"], body["write_key"])


@pytest.fixture
def src(client: TestClient, admin: Headers) -> SourceKey:
    return make_source(client, admin)


def post_batch(
    client: TestClient, key: str | None, messages: list[Any], *, headers: Headers | None = None,
    **body: Any,
) -> Any:
    head = {"Content-Type": "application/json", **(basic(key) if key else {}), **(headers or {})}
    return client.post("/v1/batch", headers=head, content=orjson.dumps({"batch": messages, **body}))


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    return body


# The readers below first apply what /v1 acknowledged (the background applier's work, done now).


def usage_days(
    client: TestClient, admin: Headers, account: str, start: str = DAY, end: str = DAY
) -> dict[str, Any]:
    drain(client.app)  # type: ignore[arg-type]
    return segment_messages.usage_days(client, admin, account, start, end)


def usage_on(client: TestClient, admin: Headers, account: str, day: str = DAY) -> dict[str, Any]:
    drain(client.app)  # type: ignore[arg-type]
    return segment_messages.usage_on(client, admin, account, day)


def pending(client: TestClient, admin: Headers) -> dict[str, Any]:
    drain(client.app)  # type: ignore[arg-type]
    response = client.get("/api/v1/ingest/pending", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stats(client: TestClient, admin: Headers, source_id: int) -> dict[str, Any]:
    drain(client.app)  # type: ignore[arg-type]
    response = client.get(f"/api/v1/sources/{source_id}/stats", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def account(client: TestClient, admin: Headers, account_id: str) -> dict[str, Any]:
    drain(client.app)  # type: ignore[arg-type]
    response = client.get(f"/api/v1/accounts/{account_id}", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def contacts(client: TestClient, admin: Headers, account_id: str) -> dict[str, dict[str, Any]]:
    drain(client.app)  # type: ignore[arg-type]
    response = client.get(f"/api/v1/accounts/{account_id}/contacts", headers=admin)
    assert response.status_code == 200, response.text
    return {c["external_id"]: c for c in response.json()["data"]}


# -- auth --------------------------------------------------------------------------------------


def test_basic_auth_with_the_write_key_as_user_and_empty_password(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    response = post_batch(client, src.key, [group("g1", "u1", "acme"), track("t1", group="acme")])

    assert ok(response) == {"success": True, "accepted": 2, "rejected": 0, "errors": []}
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 1}


def test_write_key_in_the_body(client: TestClient, src: SourceKey, admin: Headers) -> None:
    response = post_batch(client, None, [group("g1", "u1", "acme"), track("t1")], writeKey=src.key)

    assert ok(response)["accepted"] == 2
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 1}


def test_basic_auth_without_user_falls_back_to_the_body_key(client: TestClient, src: SourceKey) -> None:
    response = post_batch(client, None, [track("t1")], headers=basic(""), writeKey=src.key)

    assert ok(response)["accepted"] == 1


# (The cases of a table share one database: each leaves nothing behind that the next could see.)
BAD_KEYS: list[tuple[str, Headers, dict[str, Any]]] = [
    ("none", {}, {}),
    ("unknown", basic("bwk_00000000_not-a-real-key"), {}),
    ("not our shape", basic("not-our-shape"), {}),
    ("garbled Basic", {"Authorization": "Basic !!!not base64"}, {}),
    ("Bearer", {"Authorization": "Bearer bwk_00000000_x"}, {}),
    ("unknown in body", {}, {"writeKey": "bwk_00000000_not-a-real-key"}),
    ("number in body", {}, {"writeKey": 12345}),
    ("NUL in body", {}, {"writeKey": "bwk_0000\u00000_x"}),
]


def test_missing_or_bad_write_key_is_401_problem(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    for case, headers, body in BAD_KEYS:
        response = post_batch(client, None, [track("t1")], headers=headers, **body)

        assert response.status_code == 401, case
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Basic"), case
    assert stats(client, admin, src.id)["days"] == []


def test_a_revoked_write_key_is_401_and_stores_nothing(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme")]))
    assert client.delete(f"/api/v1/sources/{src.id}", headers=admin).status_code == 200

    response = post_batch(client, src.key, [track("t1", group="acme")])

    assert_problem(response, 401)
    assert usage_on(client, admin, "acme")["event_count"] == 0


def test_a_key_of_another_source_is_not_confused(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    other = make_source(client, admin, "ios")
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), track("t1")]))

    # The same messageId from a different source is a different message.
    ok(post_batch(client, other.key, [track("t1")]))
    assert stats(client, admin, other.id)["days"][0]["duplicates"] == 0
    assert usage_on(client, admin, "acme")["event_count"] == 2


# -- bodies ------------------------------------------------------------------------------------


MALFORMED: list[tuple[bytes, str]] = [
    (b'{"batch": [', "malformed JSON"),
    (b"", "malformed JSON"),
    (b"\xff\xfe", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"batch"', "must be a JSON object"),
]


def test_malformed_json_is_400_problem_naming_it(client: TestClient, src: SourceKey) -> None:
    for content, detail in MALFORMED:
        response = client.post("/v1/batch", headers=basic(src.key), content=content)

        assert detail in assert_problem(response, 400)["detail"], content


def test_a_batch_that_is_not_a_list_is_refused(client: TestClient, src: SourceKey) -> None:
    for body in ({}, {"batch": "x"}, {"batch": {"type": "track"}}):
        response = client.post("/v1/batch", headers=basic(src.key), content=orjson.dumps(body))

        problem = assert_problem(response, 422)
        assert problem["errors"][0]["field"] == "batch"


def test_an_empty_batch_is_fine(client: TestClient, src: SourceKey) -> None:
    assert ok(post_batch(client, src.key, []))["accepted"] == 0


def test_gzip_on_and_off_store_the_same(client: TestClient, src: SourceKey, admin: Headers) -> None:
    plain = orjson.dumps({"batch": [group("g1", "u1", "acme"), group("g2", "u2", "acme"), track("t1")]})
    zipped = gzip.compress(orjson.dumps({"batch": [track("t2"), track("t3", "u2")]}))

    first = client.post("/v1/batch", headers=basic(src.key), content=plain)
    second = client.post(
        "/v1/batch", content=zipped,
        headers={**basic(src.key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )

    assert ok(first)["accepted"] == 3
    assert ok(second)["accepted"] == 2
    day = usage_on(client, admin, "acme")
    assert (day["event_count"], day["active_users"]) == (3, 2)


def test_not_gzip_under_a_gzip_header_is_400(client: TestClient, src: SourceKey) -> None:
    response = client.post(
        "/v1/batch", content=b'{"batch": []}', headers={**basic(src.key), "Content-Encoding": "gzip"}
    )

    assert "not valid gzip" in assert_problem(response, 400)["detail"]


def test_an_unknown_content_encoding_is_refused(client: TestClient, src: SourceKey) -> None:
    response = client.post(
        "/v1/batch", content=b'{"batch": []}', headers={**basic(src.key), "Content-Encoding": "br"}
    )

    assert response.status_code in (415, 422)
    assert "gzip" in assert_problem(response, response.status_code)["detail"]


def test_a_gzip_bomb_is_413_without_inflating_it(client: TestClient, src: SourceKey) -> None:
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024

    tracemalloc.start()
    try:
        response = client.post(
            "/v1/batch", content=bomb, headers={**basic(src.key), "Content-Encoding": "gzip"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "after decompression" in assert_problem(response, 413)["detail"]
    assert peak < 8 * 1024 * 1024, f"inflated {peak} bytes to refuse a bomb"


def test_a_body_over_500_kb_is_413(client: TestClient, src: SourceKey, admin: Headers) -> None:
    filler = "x" * 30_000
    batch = [track(f"t{i}", properties={"blob": filler}) for i in range(18)]
    body = orjson.dumps({"batch": batch})
    assert len(body) > MAX_BATCH_BYTES

    response = client.post("/v1/batch", headers=basic(src.key), content=body)

    assert_problem(response, 413)
    assert stats(client, admin, src.id)["days"] == []


def test_a_body_streamed_without_length_over_500_kb_is_413(client: TestClient, src: SourceKey) -> None:
    def chunks() -> Any:
        for _ in range(60):
            yield b" " * 10_000
        yield b'{"batch": []}'

    response = client.post("/v1/batch", headers=basic(src.key), content=chunks())

    assert_problem(response, 413)


def test_a_gzipped_body_inflating_past_500_kb_is_413(client: TestClient, src: SourceKey) -> None:
    batch = [track(f"t{i}", properties={"blob": "y" * 30_000}) for i in range(18)]
    body = gzip.compress(orjson.dumps({"batch": batch}))
    assert len(body) < MAX_BATCH_BYTES

    response = client.post(
        "/v1/batch", content=body, headers={**basic(src.key), "Content-Encoding": "gzip"}
    )

    assert_problem(response, 413)


def test_a_body_of_exactly_500_kb_is_accepted(client: TestClient, src: SourceKey) -> None:
    batch = [track(f"t{i}", properties={"blob": "x" * 25_000}) for i in range(20)]
    body = orjson.dumps({"batch": batch, "pad": ""})
    body = orjson.dumps({"batch": batch, "pad": "p" * (MAX_BATCH_BYTES - len(body))})
    assert len(body) == MAX_BATCH_BYTES

    assert ok(client.post("/v1/batch", headers=basic(src.key), content=body))["accepted"] == 20


def test_a_message_over_32_kb_is_rejected_alone(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    big = track("big", properties={"blob": "x" * MAX_MESSAGE_BYTES})
    batch = [group("g1", "u1", "acme"), track("t1"), big, track("t2", "u1")]

    body = ok(post_batch(client, src.key, batch))

    assert (body["accepted"], body["rejected"]) == (3, 1)
    assert body["errors"][0]["index"] == 2
    assert body["errors"][0]["messageId"] == "big"
    assert "limit is 32768" in body["errors"][0]["reason"]
    assert usage_on(client, admin, "acme")["event_count"] == 2


# -- mixed batches, error log, stats -----------------------------------------------------------


def test_a_mixed_batch_keeps_the_good_and_logs_the_bad(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    batch = [
        group("g1", "u1", "acme", name="Acme"),
        track("t1"),
        {"type": "track", "messageId": "no-ids", "event": "x"},
        {"type": "track", "messageId": "no-event", "userId": "u1"},
        "not an object",
        {"type": "alias", "messageId": "alias", "userId": "u1", "previousId": "a"},
        track("future", ts="2030-01-01T00:00:00Z"),
        track("t2", "u1", "Dashboard Viewed"),
    ]

    body = ok(post_batch(client, src.key, batch))

    assert (body["accepted"], body["rejected"]) == (3, 5)
    assert [(e["index"], e["messageId"]) for e in body["errors"]] == [
        (2, "no-ids"), (3, "no-event"), (4, None), (5, "alias"), (6, "future"),
    ]
    reasons = [e["reason"] for e in body["errors"]]
    assert "needs a userId or an anonymousId" in reasons[0]
    assert "track needs a non-empty event name" in reasons[1]
    assert "not a JSON object" in reasons[2]
    assert "unsupported type 'alias'" in reasons[3]
    assert "too far in the future" in reasons[4]

    errors = client.get(f"/api/v1/sources/{src.id}/errors", headers=admin).json()["data"]
    assert sorted(e["message_id"] or "" for e in errors) == ["", "alias", "future", "no-event", "no-ids"]
    logged = {e["message_id"]: e for e in errors}
    assert "needs a userId" in logged["no-ids"]["reason"]
    assert orjson.loads(logged["no-ids"]["excerpt"]) == batch[2]
    assert all(e["received_at"].startswith("2026-11-23T09:00") for e in errors)

    day = stats(client, admin, src.id)
    assert day["days"] == [{"day": DAY, "accepted": 3, "rejected": 5, "duplicates": 0}]
    assert "too far in the future" in day["source"]["last_error"]
    assert day["source"]["last_error_at"].startswith("2026-11-23T09:00")
    assert day["source"]["last_event_at"].startswith("2026-11-23T09:00")
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 1, "Dashboard Viewed": 1}


def test_daily_stats_add_up_across_batches(client: TestClient, src: SourceKey, admin: Headers) -> None:
    ok(post_batch(client, src.key, [track("t1"), {"type": "track", "userId": "u1"}]))
    ok(post_batch(client, src.key, [track("t1"), track("t2")]))

    assert stats(client, admin, src.id)["days"] == [
        {"day": DAY, "accepted": 2, "rejected": 1, "duplicates": 1}
    ]


def test_the_error_log_keeps_at_most_50_rejections_per_batch(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    body = ok(post_batch(client, src.key, [{"type": "track", "messageId": f"b{i}"} for i in range(80)]))

    assert body["rejected"] == 80
    errors = client.get(f"/api/v1/sources/{src.id}/errors", headers=admin, params={"limit": 500})
    assert len(errors.json()["data"]) == MAX_LOGGED_REJECTIONS
    assert stats(client, admin, src.id)["days"][0]["rejected"] == 80


# -- idempotency -------------------------------------------------------------------------------


def test_a_replayed_batch_is_counted_once(client: TestClient, src: SourceKey, admin: Headers) -> None:
    batch = [group("g1", "u1", "acme"), group("g2", "u2", "acme"),
             track("t1"), track("t2", "u2"), track("t3", "u1", "Export")]

    first = ok(post_batch(client, src.key, batch))
    again = ok(post_batch(client, src.key, batch))

    # Both are acknowledged in full; applying the second stores nothing new.
    assert (first["accepted"], again["accepted"]) == (5, 5)
    day = usage_on(client, admin, "acme")
    assert day["events"] == {"Report Built": 2, "Export": 1}
    assert day["distinct_users"] == {"Report Built": 2, "Export": 1}
    assert (day["event_count"], day["active_users"]) == (3, 2)
    assert stats(client, admin, src.id)["days"][0]["duplicates"] == 5


def test_a_partly_replayed_batch_counts_only_the_new_messages(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), track("t1"), track("t2")]))

    body = ok(post_batch(client, src.key, [track("t2"), track("t3"), track("t3")]))

    assert body["accepted"] == 3
    assert usage_on(client, admin, "acme")["event_count"] == 3
    assert stats(client, admin, src.id)["days"][0] | {"day": DAY} == {
        "day": DAY, "accepted": 4, "rejected": 0, "duplicates": 2,
    }


def test_messages_without_message_id_are_deduplicated_by_content(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    batch = [
        {"type": "group", "userId": "u1", "groupId": "acme", "timestamp": WHEN},
        {"type": "track", "userId": "u1", "event": "x", "timestamp": WHEN},
    ]

    ok(post_batch(client, src.key, batch))
    ok(post_batch(client, src.key, batch))

    assert stats(client, admin, src.id)["days"][0]["duplicates"] == 2
    assert usage_on(client, admin, "acme")["events"] == {"x": 1}


# -- out of order: pending attribution ---------------------------------------------------------


def test_track_before_group_is_pending_then_attributed(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    batch = [track("t1", "u9"), track("t2", "u9", "Export"), track("t3", "u9")]
    ok(post_batch(client, src.key, batch))

    waiting = pending(client, admin)
    assert waiting["pending_events"] == 3
    assert waiting["oldest_received_at"].startswith("2026-11-23T09:00")
    assert waiting["by_user"] == [
        {"user": "u9", "group_id": None, "events": 3, "oldest_received_at": waiting["oldest_received_at"]}
    ]

    ok(post_batch(client, src.key, [group("g1", "u9", "acme", name="Acme")]))

    assert pending(client, admin)["pending_events"] == 0
    day = usage_on(client, admin, "acme")
    assert day["events"] == {"Report Built": 2, "Export": 1}
    assert day["distinct_users"] == {"Report Built": 1, "Export": 1}
    assert (day["event_count"], day["active_users"]) == (3, 1)
    assert usage_days(client, admin, "acme")["last_event_at"].startswith("2026-11-23T01:00")


def test_pending_events_are_attributed_once_even_if_the_group_call_repeats(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [track("t1", "u9")]))
    ok(post_batch(client, src.key, [group("g1", "u9", "acme")]))
    ok(post_batch(client, src.key, [group("g1", "u9", "acme")]))  # a replay
    ok(post_batch(client, src.key, [group("g2", "u9", "acme")]))  # the same link, a new message

    assert usage_on(client, admin, "acme")["event_count"] == 1


def test_events_naming_an_account_not_yet_known_wait_for_its_group_call(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [
        track("t1", "u1", group="globex"), track("t2", "u2", "Export", group="globex"),
        {"type": "page", "messageId": "p1", "anonymousId": "a1", "name": "Home",
         "properties": {"account_id": "globex"}, "timestamp": WHEN},
    ]))

    drain(client.app)  # type: ignore[arg-type]
    assert client.get("/api/v1/accounts/globex", headers=admin).status_code == 404
    waiting = pending(client, admin)
    assert waiting["pending_events"] == 3
    assert {(w["user"], w["group_id"], w["events"]) for w in waiting["by_user"]} == {
        ("u1", "globex", 1), ("u2", "globex", 1), ("anon:a1", "globex", 1),
    }

    # A group call from someone else creates the account: every event naming it is attributed.
    ok(post_batch(client, src.key, [group("g1", "u7", "globex", name="Globex")]))

    assert pending(client, admin)["pending_events"] == 0
    day = usage_on(client, admin, "globex")
    assert day["events"] == {"Report Built": 1, "Export": 1, "page:Home": 1}
    assert day["active_users"] == 3


def test_an_event_naming_an_unknown_account_is_not_given_to_the_users_own(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), track("t1", "u1", group="initech")]))

    assert usage_on(client, admin, "acme")["event_count"] == 0
    assert pending(client, admin)["by_user"][0]["group_id"] == "initech"


def test_group_and_track_in_one_batch_attribute_at_once(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    # The track comes first in the batch; the group call in the same batch still counts.
    ok(post_batch(client, src.key, [track("t1", "u1"), group("g1", "u1", "acme")]))

    assert pending(client, admin)["pending_events"] == 0
    assert usage_on(client, admin, "acme")["event_count"] == 1


def test_identify_before_group_creates_the_contact_when_the_group_arrives(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [
        identify("i1", "u1", email="Hanako@Example.JP", name="山田 花子", title="CTO", plan_role="owner"),
        {"type": "identify", "messageId": "i2", "userId": "u2", "timestamp": WHEN,
         "context": {"traits": {"email": "taro@example.jp", "firstName": "太郎", "lastName": "鈴木"}}},
    ]))
    assert client.get("/api/v1/accounts/acme", headers=admin).status_code == 404

    ok(post_batch(client, src.key, [group("g1", "u1", "acme", name="Acme"), group("g2", "u2", "acme")]))

    people = contacts(client, admin, "acme")
    assert people["u1"]["email"] == "hanako@example.jp"
    assert (people["u1"]["name"], people["u1"]["title"]) == ("山田 花子", "CTO")
    assert people["u1"]["traits"]["plan_role"] == "owner"
    assert (people["u2"]["email"], people["u2"]["name"]) == ("taro@example.jp", "鈴木 太郎")


def test_identify_after_group_updates_the_contact(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme")]))
    ok(post_batch(client, src.key, [identify("i1", "u1", email="a@example.jp", title="PM")]))
    ok(post_batch(client, src.key, [identify("i2", "u1", title="VP Product")]))

    person = contacts(client, admin, "acme")["u1"]
    assert (person["email"], person["title"]) == ("a@example.jp", "VP Product")


def test_group_upserts_the_account_from_its_traits(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme", name="Acme", industry="retail",
                                          plan="pro", seats=40, employees=120, region="関西")]))
    ok(post_batch(client, src.key, [group("g2", "u2", "acme", plan="enterprise", licensed_seats="75")]))

    acme = account(client, admin, "acme")
    assert (acme["name"], acme["industry"], acme["plan"], acme["licensed_seats"]) == (
        "Acme", "retail", "enterprise", 75,
    )
    assert acme["traits"]["employees"] == 120
    assert acme["traits"]["region"] == "関西"
    assert set(contacts(client, admin, "acme")) == {"u1", "u2"}


def test_group_without_a_name_uses_the_group_id_and_numeric_ids_work(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [
        {"type": "group", "messageId": 1, "userId": 42, "groupId": 1001, "timestamp": WHEN},
        {"type": "track", "messageId": 2, "userId": 42, "event": "x", "timestamp": WHEN},
    ]))

    assert account(client, admin, "1001")["name"] == "1001"
    assert usage_on(client, admin, "1001")["events"] == {"x": 1}


def test_a_user_moving_account_takes_new_events_along(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), track("t1")]))
    ok(post_batch(client, src.key, [group("g2", "u1", "globex"), track("t2")]))

    assert usage_on(client, admin, "acme")["event_count"] == 1
    assert usage_on(client, admin, "globex")["event_count"] == 1
    assert set(contacts(client, admin, "globex")) == {"u1"}


def test_account_attribution_order_context_then_properties_then_link(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), group("g2", "u2", "globex"),
                                    group("g3", "u3", "initech")]))

    ok(post_batch(client, src.key, [
        track("t1", "u1", context={"groupId": "globex"}, properties={"groupId": "initech"}),
        track("t2", "u1", properties={"groupId": "initech", "account_id": "globex"}),
        track("t3", "u1", properties={"account_id": "globex"}),
        track("t4", "u1"),
    ]))

    assert usage_on(client, admin, "globex")["event_count"] == 2
    assert usage_on(client, admin, "initech")["event_count"] == 1
    assert usage_on(client, admin, "acme")["event_count"] == 1


def test_batch_level_context_applies_to_each_message(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), group("g2", "u1", "globex")]))

    body = ok(post_batch(
        client, src.key,
        [track("t1", "u1"), track("t2", "u1", context={"groupId": "acme"}),
         track("t3", "u1", context="not an object")],
        context={"groupId": "globex", "library": {"name": "analytics.js"}},
    ))

    assert (body["accepted"], body["rejected"]) == (3, 0)
    assert usage_on(client, admin, "globex")["event_count"] == 2
    assert usage_on(client, admin, "acme")["event_count"] == 1


# -- page, screen, single calls ----------------------------------------------------------------


def test_page_and_screen_are_usage_named_by_their_name(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [
        group("g1", "u1", "acme"),
        {"type": "page", "messageId": "p1", "userId": "u1", "name": "Dashboard", "timestamp": WHEN},
        {"type": "page", "messageId": "p2", "userId": "u1", "properties": {"path": "/billing"},
         "timestamp": WHEN},
        {"type": "screen", "messageId": "s1", "userId": "u1", "name": "Home", "timestamp": WHEN},
        {"type": "page", "messageId": "p3", "userId": "u1", "timestamp": WHEN},
    ]))

    assert usage_on(client, admin, "acme")["events"] == {
        "page:Dashboard": 1, "page:/billing": 1, "screen:Home": 1, "page:": 1,
    }


def test_single_usage_calls(client: TestClient, src: SourceKey, admin: Headers) -> None:
    ok(client.post("/v1/group", headers=basic(src.key), json={"userId": "u1", "groupId": "acme"}))

    for path, body in [
        ("/v1/track", {"userId": "u1", "event": "Signed In"}),
        ("/v1/page", {"userId": "u1", "name": "Pricing"}),
        ("/v1/screen", {"userId": "u1", "name": "Settings"}),
    ]:
        response = client.post(path, headers=basic(src.key), json={**body, "timestamp": WHEN})
        assert ok(response)["accepted"] == 1, path

    assert usage_on(client, admin, "acme")["events"] == {
        "Signed In": 1, "page:Pricing": 1, "screen:Settings": 1,
    }


def test_single_identify_and_group_calls_with_the_key_in_the_body(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(client.post("/v1/identify", json={"writeKey": src.key, "userId": "u1",
                                          "traits": {"email": "a@example.jp"}}))
    ok(client.post("/v1/group", json={"writeKey": src.key, "userId": "u1", "groupId": "acme",
                                       "traits": {"name": "Acme"}}))

    assert account(client, admin, "acme")["name"] == "Acme"
    assert contacts(client, admin, "acme")["u1"]["email"] == "a@example.jp"


INVALID_SINGLE: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/track", {"userId": "u1"}, "track needs a non-empty event name"),
    ("/v1/track", {"event": "x"}, "needs a userId or an anonymousId"),
    ("/v1/group", {"userId": "u1"}, "group needs a groupId"),
    ("/v1/identify", {"anonymousId": "a1"}, "identify needs a userId"),
    ("/v1/page", {"userId": "u1", "timestamp": "not a time"}, "not an ISO 8601 time"),
    ("/v1/screen", {"userId": "u1", "properties": {"x": "y" * MAX_MESSAGE_BYTES}}, "limit is 32768"),
]


def test_an_invalid_single_call_is_a_4xx_problem_naming_the_reason(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    for n, (path, body, reason) in enumerate(INVALID_SINGLE, start=1):
        response = client.post(path, headers=basic(src.key), json=body)

        # Not one the SDKs retry (408, 429): retrying cannot fix the message.
        assert 400 <= response.status_code < 500 and response.status_code not in (408, 429), reason
        assert reason in assert_problem(response, response.status_code)["detail"]
        assert stats(client, admin, src.id)["days"][0]["rejected"] == n
        errors = client.get(f"/api/v1/sources/{src.id}/errors", headers=admin).json()["data"]
        assert reason in errors[0]["reason"]


def test_a_single_call_replayed_is_counted_once(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(client.post("/v1/group", headers=basic(src.key), json={"userId": "u1", "groupId": "acme"}))
    call = {"userId": "u1", "event": "x", "messageId": "once", "timestamp": WHEN}

    ok(client.post("/v1/track", headers=basic(src.key), json=call))
    again = ok(client.post("/v1/track", headers=basic(src.key), json=call))

    assert again["accepted"] == 1
    assert stats(client, admin, src.id)["days"][0]["duplicates"] == 1
    assert usage_on(client, admin, "acme")["event_count"] == 1


# -- rollups: distinct users, days, last event -------------------------------------------------


def test_distinct_and_active_users_are_exact(client: TestClient, src: SourceKey, admin: Headers) -> None:
    ok(post_batch(client, src.key, [
        group("g1", "u1", "acme"), group("g2", "u2", "acme"),
        track("t1", "u1"), track("t2", "u1"), track("t3", "u2"), track("t4", "u1", "Export"),
        track("t5", None, anonymousId="anon-1", group="acme"),
        track("t6", None, anonymousId="anon-1", group="acme"),
    ]))
    # The same users again in later batches are not new users.
    ok(post_batch(client, src.key, [track("t7", "u2"), track("t8", "u2", "Export")]))

    day = usage_on(client, admin, "acme")
    assert day["events"] == {"Report Built": 6, "Export": 2}
    assert day["distinct_users"] == {"Report Built": 3, "Export": 2}
    assert day["event_count"] == 8
    assert day["active_users"] == 3  # u1, u2 and the anonymous visitor


def test_days_are_bucketed_in_the_configured_time_zone(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [
        group("g1", "u1", "acme"),
        track("t1", ts="2026-11-22T16:30:00Z"),  # 01:30 on the 23rd in Tokyo
        track("t2", ts="2026-11-22T14:59:59Z"),  # 23:59:59 on the 22nd in Tokyo
        track("t3", ts="2026-11-22T15:00:00Z"),  # midnight on the 23rd in Tokyo
    ]))

    days = usage_days(client, admin, "acme", "2026-11-21", "2026-11-23")["by_day"]
    assert [days[d]["event_count"] for d in ("2026-11-21", "2026-11-22", "2026-11-23")] == [0, 1, 2]


def test_days_follow_a_different_time_zone_setting(settings: Settings, make_key: Any) -> None:
    app = create_app(settings.model_copy(update={"timezone": "UTC"}))
    app.state.clock = lambda: AS_OF
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    with TestClient(app) as client:
        key = make_source(client, admin).key
        ok(post_batch(client, key, [group("g1", "u1", "acme"), track("t1", ts="2026-11-22T16:30:00Z")]))

        days = usage_days(client, admin, "acme", "2026-11-22", "2026-11-23")["by_day"]

    assert (days["2026-11-22"]["event_count"], days["2026-11-23"]["event_count"]) == (1, 0)


def test_the_account_shows_when_its_last_event_happened(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    assert ok(post_batch(client, src.key, [group("g1", "u1", "acme")]))
    assert usage_days(client, admin, "acme")["last_event_at"] is None

    ok(post_batch(client, src.key, [track("t1", ts="2026-11-23T03:00:00Z")]))
    ok(post_batch(client, src.key, [track("t2", ts="2026-11-22T03:00:00Z")]))  # late, older

    assert usage_days(client, admin, "acme")["last_event_at"] == "2026-11-23T03:00:00Z"


def test_clock_skew_is_corrected_with_sent_at(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    # The device's clock is 2 days fast; the event happened 1 minute before it sent the batch.
    ok(post_batch(client, src.key, [group("g1", "u1", "acme")]))

    ok(post_batch(
        client, src.key,
        [track("t1", ts=None, originalTimestamp="2026-11-25T08:59:00Z")],
        sentAt="2026-11-25T09:00:00Z",
    ))

    assert usage_days(client, admin, "acme")["last_event_at"] == "2026-11-23T08:59:00Z"


def test_unknown_fields_are_kept_in_the_stored_event(
    client: TestClient, src: SourceKey, session: Any
) -> None:
    from sqlmodel import select

    from app.models import Event

    raw = track("t1", integrations={"All": False}, _metadata={"bundled": ["Mixpanel"]},
                context={"library": {"name": "analytics-go"}, "custom": [1, 2]})

    ok(post_batch(client, src.key, [raw]))
    drain(client.app)  # type: ignore[arg-type]

    stored = session.exec(select(Event).where(Event.message_id == "t1")).one()
    assert stored.payload == raw


def test_a_nul_character_is_handled_the_same_on_every_engine(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb, so it is refused everywhere, message by
    # message, with the reason in the error log.
    body = ok(post_batch(client, src.key, [
        group("g1", "u1", "acme"),
        track("t1", properties={"q": "a\u0000b"}),
        track("t2"),
        track("t3\u0000", "u1"),
        track("t4", "u1", **{"key\u0000": 1}),
        track("t5", "u1", properties={"q": "a literal \\u0000 is fine"}),
    ]))

    assert (body["accepted"], body["rejected"]) == (3, 3)
    assert all("NUL" in e["reason"] for e in body["errors"])
    assert usage_on(client, admin, "acme")["event_count"] == 2
    errors = client.get(f"/api/v1/sources/{src.id}/errors", headers=admin).json()["data"]
    assert sorted(e["message_id"] for e in errors) == ["t1", "t3\ufffd", "t4"]


# -- overload ----------------------------------------------------------------------------------


def test_too_many_requests_in_flight_is_503_with_retry_after(
    app: FastAPI, client: TestClient, src: SourceKey
) -> None:
    gate = segment_api._Gate()
    gate.in_flight = segment_api.MAX_IN_FLIGHT
    app.state.segment_gate = gate

    response = post_batch(client, src.key, [track("t1")])

    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()


def test_a_busy_database_is_503_with_retry_after(
    client: TestClient, src: SourceKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(LogWriter, "_append", busy)

    response = post_batch(client, src.key, [track("t1")])

    assert_problem(response, 503)
    assert response.headers["retry-after"].isdigit()


def test_the_in_flight_count_returns_to_zero(app: FastAPI, client: TestClient, src: SourceKey) -> None:
    ok(post_batch(client, src.key, [track("t1")]))
    assert_problem(post_batch(client, src.key, [], headers={"Authorization": "Basic x"}), 401)
    assert_problem(client.post("/v1/batch", headers=basic(src.key), content=b"{"), 400)

    assert app.state.segment_gate.in_flight == 0


def test_concurrent_requests_through_the_app_count_exactly(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [group(f"g{u}", f"u{u}", "acme") for u in range(4)]))
    batches = [[track(f"t{(start + i) % 30}", f"u{i % 4}") for i in range(20)] for start in (0, 10, 20)]
    results: list[Any] = []

    def send(batch: list[Any]) -> None:
        results.append(post_batch(client, src.key, batch))

    threads = [threading.Thread(target=send, args=(b,)) for b in batches * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in results] == [200] * 6
    counted = stats(client, admin, src.id)["days"][0]
    assert (counted["accepted"], counted["duplicates"]) == (4 + 30, 6 * 20 - 30)
    day = usage_on(client, admin, "acme")
    assert (day["event_count"], day["active_users"]) == (30, 4)


def test_identify_and_group_in_one_batch_attribute_the_users_earlier_events(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [track("t1", "u1"), track("t2", "u1", "Export")]))

    # The identify comes first and already records the user's account (from the group call in
    # the same batch); the waiting events must still be attributed.
    ok(post_batch(client, src.key, [identify("i1", "u1", email="a@example.jp"), group("g1", "u1", "acme")]))

    assert pending(client, admin)["pending_events"] == 0
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 1, "Export": 1}


def test_presence_bits_after_ingestion_match_a_rebuild_from_the_rollups(
    client: TestClient, src: SourceKey, session: Any
) -> None:
    # Ingestion only sends presence the rows that just became active; the bits must still be
    # exactly what recomputing them from the rollups gives.
    from sqlalchemy import text

    from app.usage import presence

    early = [track("p1", "u3"), track("p2", "u3", "Export", ts="2026-10-02T01:00:00Z")]
    ok(post_batch(client, src.key, early))  # pending until u3's group call
    ok(post_batch(client, src.key, [group("g1", "u1", "acme"), group("g2", "u2", "acme"),
                                    group("g3", "u3", "globex")]))
    for n, ts in enumerate(["2026-11-23T01:00:00Z", "2026-11-22T01:00:00Z", "2026-09-30T01:00:00Z"]):
        batch = [track(f"t{n}-{i}", f"u{1 + i % 3}", f"E{i % 4}", ts=ts) for i in range(12)]
        ok(post_batch(client, src.key, batch))
        ok(post_batch(client, src.key, batch))  # a replay changes nothing
    ok(post_batch(client, src.key, [track("late", "u1", "E9", ts="2026-11-22T02:00:00Z")]))
    drain(client.app)  # type: ignore[arg-type]

    def snapshot() -> list[Any]:
        return [tuple(r) for r in session.execute(text(
            "SELECT block, kind, account_id, item, days FROM usage_presence ORDER BY 1, 2, 3, 4"
        )).all()] + [tuple(r) for r in session.execute(text(
            "SELECT event FROM usage_event_name ORDER BY 1"
        )).all()]

    ingested = snapshot()
    presence.rebuild(session)
    session.flush()

    assert ingested == snapshot()
    assert len(ingested) > 20


def test_an_account_created_through_the_api_collects_the_usage_that_waited_for_it(
    client: TestClient, src: SourceKey, admin: Headers
) -> None:
    ok(post_batch(client, src.key, [track("w1", group="later-co"),
                                    track("w2", user="u2", group="later-co")]))
    assert pending(client, admin)["pending_events"] == 2
    created = client.post("/api/v1/accounts", headers=admin,
                          json={"id": "later-co", "name": "Later KK"})
    assert created.status_code == 201, created.text
    day = usage_on(client, admin, "later-co")
    assert (day["event_count"], day["active_users"]) == (2, 2)
    assert pending(client, admin)["pending_events"] == 0
