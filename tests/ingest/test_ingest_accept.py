"""The request-time side of ingestion: the lean message check, the write-key cache, and how the
applier gives way to requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from app.errors import NotAuthenticated
from app.ingest import checks, pacing, sources
from app.ingest.segment import MAX_MESSAGE_BYTES, Rejected, check_message, parse_message

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SENT = dt.datetime(2026, 11, 23, 8, 59, tzinfo=dt.UTC)


def verdict(check: Any, raw: Any, **kwargs: Any) -> str:
    """ "ok" or the rejection's reason."""
    try:
        check(raw, received_at=AS_OF, batch_sent_at=SENT, **kwargs)
    except Rejected as exc:
        return str(exc)
    return "ok"


# -- check_message: the same verdicts as parse_message, without building the result ------------


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "track", "event": "Report Built", "userId": "u1", "messageId": "m1"},
        {"type": "track", "event": "  ", "userId": "u1"},
        {"type": "track", "userId": "u1"},
        {"type": "TRACK", "event": "x", "anonymousId": 7},
        {"type": "page", "userId": "u1", "properties": {"groupId": ["not", "an", "id"]}},
        {"type": "page", "userId": "u1", "context": {"groupId": "acme"}, "properties": {"groupId": []}},
        {"type": "group", "userId": "u1"},
        {"type": "group", "userId": "u1", "groupId": "g" * 256},
        {"type": "identify", "anonymousId": "a1"},
        {"type": "identify", "userId": "u1", "context": {"groupId": True}},
        {"type": "alias", "userId": "u1"},
        {"type": "track", "event": "x"},
        {"type": "track", "event": "x", "userId": "u1", "messageId": {"id": 1}},
        {"type": "track", "event": "x", "userId": "u1", "timestamp": "yesterday"},
        {"type": "track", "event": "x", "userId": "u1", "timestamp": "2026-11-25T09:00:01Z"},
        {"type": "track", "event": "x\u0000", "userId": "u1"},
        {"type": "track", "event": "x", "userId": "u1", "properties": {"blob": "x" * MAX_MESSAGE_BYTES}},
        ["not", "an", "object"],
    ],
)
def test_check_message_gives_the_verdict_parse_message_gives(raw: Any) -> None:
    assert verdict(check_message, raw) == verdict(parse_message, raw)


def test_check_message_returns_the_compact_json_it_measured() -> None:
    raw = {"type": "track", "event": "Report Built", "userId": "u1", "extra": {"ünïcode": [1, 2.5]}}

    assert check_message(raw, received_at=AS_OF) == orjson.dumps(raw)


def test_the_implied_type_of_a_single_call_endpoint_counts() -> None:
    raw = {"event": "Report Built", "userId": "u1"}

    assert verdict(check_message, raw) == verdict(parse_message, raw) != "ok"
    assert verdict(check_message, raw, implied_type="track") == "ok"


IDS = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "  ", "u1", " acme ", "x" * 256])
TIMES = st.none() | st.sampled_from(
    ["2026-11-23T08:00:00Z", "2026-11-23T08:00:00+09:00", "2026-11-30T00:00:00Z", "nope", "2026-11-23"]
)
MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.none()
        | st.sampled_from(["track", "page", "screen", "identify", "group", "Group", "alias", ""]),
        "event": IDS,
        "userId": IDS,
        "anonymousId": IDS,
        "messageId": IDS,
        "groupId": IDS,
        "timestamp": TIMES,
        "originalTimestamp": TIMES,
        "sentAt": TIMES,
        "context": st.none()
        | st.fixed_dictionaries({}, optional={"groupId": IDS, "traits": st.just({"a": 1})}),
        "properties": st.none()
        | st.fixed_dictionaries({}, optional={"groupId": IDS, "account_id": IDS, "name": IDS}),
        "name": IDS,
    },
)


@settings(max_examples=300, deadline=None)
@given(raw=MESSAGES, implied=st.none() | st.sampled_from(["track", "identify"]))
def test_check_message_agrees_with_parse_message_on_any_message(
    raw: dict[str, Any], implied: str | None
) -> None:
    assert verdict(check_message, raw, implied_type=implied) == verdict(
        parse_message, raw, implied_type=implied
    )


def test_a_checked_batch_logs_its_accepted_messages_as_one_json_array() -> None:
    raws = [
        {"type": "track", "event": "a", "userId": "u1", "messageId": "m1"},
        {"type": "track", "userId": "u1", "messageId": "m2"},  # no event: rejected
        {"type": "page", "anonymousId": "a1", "messageId": "m3", "properties": {"q": "é"}},
    ]

    checked = checks.check_batch(raws, received_at=AS_OF)

    assert [r.index for r in checked.rejected] == [1]
    assert checked.body() == orjson.dumps([raws[0], raws[2]])
    assert checks.check_batch([], received_at=AS_OF).body() == b"[]"


# -- the write-key cache -----------------------------------------------------------------------


def test_a_cached_write_key_still_stops_working_when_its_source_is_revoked(session: Session) -> None:
    source, key = sources.create_source(session, name="web-app", now=AS_OF)
    cache = sources.WriteKeyCache()

    assert cache.source_id(session, key) == source.id
    assert cache.known == {key: source.id}
    assert cache.source_id(session, key) == source.id  # from the cache

    sources.revoke_source(session, ref=source.id or 0, now=AS_OF)
    session.flush()

    with pytest.raises(NotAuthenticated):
        cache.source_id(session, key)
    assert cache.known == {}


def test_unknown_write_keys_are_refused_and_never_cached(session: Session) -> None:
    cache = sources.WriteKeyCache()
    _, key = sources.create_source(session, name="web-app", now=AS_OF)

    for wrong in ("nonsense", key[:-1] + ("A" if key[-1] != "A" else "B")):
        with pytest.raises(NotAuthenticated):
            cache.source_id(session, wrong)

    assert cache.known == {}


def test_the_write_key_cache_stays_bounded(session: Session) -> None:
    cache = sources.WriteKeyCache(size=2)
    keys = [sources.create_source(session, name=f"s{n}", now=AS_OF)[1] for n in range(3)]

    for key in keys:
        cache.source_id(session, key)

    assert list(cache.known) == [keys[2]]


# -- how the applier gives way to requests -----------------------------------------------------


class FakeTurn:
    """Request activity as the pacer reads it, set by the test."""

    def __init__(self) -> None:
        self.now_busy = False
        self.busy_total = 0.0

    def busy(self, quiet: float) -> bool:
        return self.now_busy

    def busy_seconds(self) -> float:
        return self.busy_total


@pytest.mark.parametrize(
    ("busy_during_rest", "took", "rest"),
    [
        (0.0, 0.2, 0.001),  # nobody sending: back to back
        (0.1, 0.2, 0.2 * 0.1 / 0.9),  # requests busy 10% of the time: the applier takes 90%
        (0.5, 0.2, 0.2),  # half and half
        (0.9, 0.2, 1.8),  # the floor: a tenth of the time
        (1.0, 0.2, 1.8),  # a flood: still a tenth
    ],
)
def test_the_applier_takes_the_time_requests_leave_free_and_at_least_a_tenth(
    busy_during_rest: float, took: float, rest: float
) -> None:
    turn, now = FakeTurn(), [100.0]
    pacer = pacing.ApplierPacer(turn, clock=lambda: now[0])  # type: ignore[arg-type]
    pacer.starting()
    pacer.rest(0.2)
    now[0] += 2.0  # two seconds of rest, some of them busy with requests
    turn.busy_total += 2.0 * busy_during_rest

    pacer.starting()

    assert pacer.rest(took) == pytest.approx(rest)


def test_the_first_transaction_after_an_idle_spell_looks_at_requests_in_flight_now() -> None:
    turn = FakeTurn()
    pacer = pacing.ApplierPacer(turn, clock=lambda: 0.0)  # type: ignore[arg-type]
    turn.now_busy = True

    pacer.idle()
    pacer.starting()

    assert pacer.rest(0.2) == pytest.approx(0.2 * (1 - pacing.APPLIER_SHARE) / pacing.APPLIER_SHARE)
    assert pacing.APPLY_MESSAGES_BUSY < pacing.APPLY_MESSAGES


def test_the_turn_sums_the_time_requests_were_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    turn = pacing._Turn()
    monkeypatch.setattr(pacing, "_TURN", turn)
    assert pacing.apply_budget() == pacing.APPLY_MESSAGES

    with pacing.request_in_flight(), pacing.request_in_flight():  # overlapping: counted once
        assert turn.busy(pacing.APPLIER_QUIET)
        assert pacing.apply_budget() == pacing.APPLY_MESSAGES_BUSY
        first = turn.busy_seconds()
    after = turn.busy_seconds()

    assert turn.in_flight == 0
    assert 0 <= first <= after == turn.busy_total
    assert turn.busy(pacing.APPLIER_QUIET)  # just ended: the next one is probably on its way
    turn.last_request -= pacing.APPLIER_QUIET
    assert not turn.busy(pacing.APPLIER_QUIET)
