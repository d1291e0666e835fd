"""The Segment message format, parsed without I/O: types, ids, traits, event time, limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest.segment import (
    MAX_FUTURE,
    MAX_MESSAGE_BYTES,
    MAX_SEATS,
    Message,
    Rejected,
    default_message_id,
    event_time,
    group_seats,
    parse_message,
    parse_time,
)

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def parse(raw: Any, **kwargs: Any) -> Message:
    return parse_message(raw, received_at=AS_OF, **kwargs)


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Report Built", "userId": "u1", "messageId": "m1"} | fields


def rejected(raw: Any, **kwargs: Any) -> str:
    with pytest.raises(Rejected) as info:
        parse(raw, **kwargs)
    return str(info.value)


# -- types -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "name"),
    [
        (track(), "track", "Report Built"),
        (track(event="  Report Built  "), "track", "Report Built"),
        (track(type="TRACK"), "track", "Report Built"),
        ({"type": "page", "userId": "u1", "name": "Dashboard"}, "page", "page:Dashboard"),
        ({"type": "page", "userId": "u1", "properties": {"name": "Settings"}}, "page", "page:Settings"),
        ({"type": "page", "userId": "u1", "properties": {"path": "/billing"}}, "page", "page:/billing"),
        ({"type": "page", "userId": "u1"}, "page", "page:"),
        ({"type": "screen", "userId": "u1", "name": "Home"}, "screen", "screen:Home"),
        ({"type": "identify", "userId": "u1"}, "identify", None),
        ({"type": "group", "userId": "u1", "groupId": "acme"}, "group", None),
    ],
)
def test_each_type_is_recognised_with_its_rollup_name(
    raw: dict[str, Any], kind: str, name: str | None
) -> None:
    msg = parse(raw)

    assert (msg.type, msg.name) == (kind, name)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ("track", "not a JSON object"),
        (None, "not a JSON object"),
        ({"userId": "u1"}, "unsupported type None"),
        ({"type": "alias", "userId": "u1"}, "unsupported type 'alias'"),
        ({"type": 7, "userId": "u1"}, "unsupported type 7"),
        (track(event=None), "track needs a non-empty event name"),
        ({"type": "track", "userId": "u1"}, "track needs a non-empty event name"),
        (track(event="   "), "track needs a non-empty event name"),
        (track(event=42), "track needs a non-empty event name"),
        ({"type": "group", "userId": "u1"}, "group needs a groupId"),
        ({"type": "group", "userId": "u1", "groupId": None}, "group needs a groupId"),
        ({"type": "group", "userId": "u1", "groupId": ""}, "group needs a groupId"),
        ({"type": "identify", "anonymousId": "a1"}, "identify needs a userId"),
        (track(userId=None), "needs a userId or an anonymousId"),
        ({"type": "track", "event": "x"}, "needs a userId or an anonymousId"),
        (track(userId="  ", anonymousId=""), "needs a userId or an anonymousId"),
        (track(userId={"id": 1}), "userId must be a string"),
        (track(userId=True), "userId must be a string"),
        (track(anonymousId=["a"]), "anonymousId must be a string"),
        (track(userId="u" * 256), "userId is longer than 255 characters"),
        (track(messageId={"x": 1}), "messageId must be a string"),
        (track(context={"groupId": ["acme"]}), "context.groupId must be a string"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(raw: Any, reason: str) -> None:
    assert reason in rejected(raw)


def test_implied_type_applies_when_the_message_has_none() -> None:
    msg = parse({"userId": "u1", "event": "Signed In"}, implied_type="track")

    assert (msg.type, msg.name) == ("track", "Signed In")


# -- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "user_id", "anonymous_id", "user_key"),
    [
        ({"userId": "u1"}, "u1", None, "u1"),
        ({"userId": "u1", "anonymousId": None}, "u1", None, "u1"),
        ({"userId": None, "anonymousId": "a1"}, None, "a1", "anon:a1"),
        ({"anonymousId": "a1"}, None, "a1", "anon:a1"),
        ({"userId": 12345}, "12345", None, "12345"),
        ({"userId": 0}, "0", None, "0"),
        ({"userId": " u1 ", "anonymousId": "a1"}, "u1", "a1", "u1"),
        ({"userId": "", "anonymousId": 99}, None, "99", "anon:99"),
        # A user id that looks like an anonymous key is still a different person.
        ({"userId": "anon:a1"}, "anon:a1", None, " anon:a1"),
        ({"userId": " anon:a1", "anonymousId": "a1"}, "anon:a1", "a1", " anon:a1"),
    ],
)
def test_user_ids_null_absent_or_numeric(
    fields: dict[str, Any], user_id: str | None, anonymous_id: str | None, user_key: str
) -> None:
    raw = {"type": "track", "event": "x", "messageId": "m1", **fields}

    msg = parse(raw)

    assert (msg.user_id, msg.anonymous_id, msg.user_key) == (user_id, anonymous_id, user_key)


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        ("6f1c8f5e-2a1b-4c3d-9e8f-0a1b2c3d4e5f", "6f1c8f5e-2a1b-4c3d-9e8f-0a1b2c3d4e5f"),
        ("ajs-next-1700000000000-abc", "ajs-next-1700000000000-abc"),
        ("メッセージ-1", "メッセージ-1"),
        (42, "42"),
    ],
)
def test_message_id_is_any_string_or_number(message_id: Any, expected: str) -> None:
    assert parse(track(messageId=message_id)).message_id == expected


@pytest.mark.parametrize("absent", [{}, {"messageId": None}, {"messageId": ""}])
def test_without_message_id_a_stable_hash_stands_in(absent: dict[str, Any]) -> None:
    raw = {"type": "track", "event": "x", "userId": "u1", "timestamp": "2026-11-22T10:00:00Z", **absent}
    same_reordered = dict(reversed(list(raw.items())))

    first = parse(raw).message_id
    again = parse(same_reordered).message_id
    other = parse({**raw, "event": "y"}).message_id

    assert first.startswith("h-")
    assert first == again == default_message_id(raw)
    assert other != first
    assert len(first) <= 255


# -- group and identify ------------------------------------------------------------------------


def test_group_names_the_account_and_carries_its_traits() -> None:
    msg = parse({"type": "group", "userId": "u1", "groupId": 1001,
                 "traits": {"name": "Acme", "plan": "pro", "employees": 50}})

    assert msg.group_id == "1001"
    assert msg.traits == {"name": "Acme", "plan": "pro", "employees": 50}


@pytest.mark.parametrize(
    ("fields", "traits"),
    [
        ({"traits": {"email": "a@x.jp"}}, {"email": "a@x.jp"}),
        ({"context": {"traits": {"email": "a@x.jp"}}}, {"email": "a@x.jp"}),
        (
            {"traits": {"email": "top@x.jp"}, "context": {"traits": {"email": "ctx@x.jp", "title": "CTO"}}},
            {"email": "top@x.jp", "title": "CTO"},
        ),
        ({"traits": "not an object"}, {}),
        ({}, {}),
    ],
)
def test_identify_traits_in_traits_or_context_traits(
    fields: dict[str, Any], traits: dict[str, Any]
) -> None:
    msg = parse({"type": "identify", "userId": "u1", **fields})

    assert msg.traits == traits


@pytest.mark.parametrize(
    ("fields", "group_id"),
    [
        ({"context": {"groupId": "acme"}}, "acme"),
        ({"properties": {"groupId": "acme"}}, "acme"),
        ({"properties": {"account_id": "acme"}}, "acme"),
        ({"context": {"groupId": "ctx"}, "properties": {"groupId": "prop", "account_id": "acc"}}, "ctx"),
        ({"properties": {"groupId": "prop", "account_id": "acc"}}, "prop"),
        ({"context": {"groupId": None}, "properties": {"account_id": 7}}, "7"),
        ({"context": "not an object"}, None),
        ({}, None),
    ],
)
def test_usage_events_name_their_account(fields: dict[str, Any], group_id: str | None) -> None:
    assert parse(track(**fields)).group_id == group_id


def test_unknown_fields_anywhere_stay_in_the_payload() -> None:
    raw = track(
        integrations={"All": True}, _metadata={"bundled": ["x"]}, vendorField=[1, {"a": None}],
        context={"library": {"name": "analytics-ruby", "version": "2.4"}, "custom": {"deep": 1}},
        properties={"nested": {"list": [1, 2, 3]}},
    )

    msg = parse(raw)

    assert msg.payload == raw
    assert msg.payload["vendorField"] == [1, {"a": None}]
    assert msg.payload["context"]["custom"] == {"deep": 1}


# -- event time --------------------------------------------------------------------------------

T = "2026-11-22T10:00:00Z"


@pytest.mark.parametrize(
    ("fields", "batch_sent_at", "expected"),
    [
        # An explicit timestamp wins over everything else.
        ({"timestamp": T, "originalTimestamp": "2020-01-01T00:00:00Z",
          "sentAt": "2020-01-01T00:00:05Z"}, None, dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
        ({"timestamp": "2026-11-22T19:00:00+09:00"}, None, dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
        ({"timestamp": "2026-11-22T10:00:00"}, None, dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
        ({"timestamp": "2026-11-22T10:00:00.123456z"}, None,
         dt.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=dt.UTC)),
        # The device clock is 1 hour fast: it sent at 10:05 by its clock, 2 s after the event;
        # we received at 09:00 real time, so the event was at 08:59:58.
        ({"originalTimestamp": "2026-11-23T10:04:58Z", "sentAt": "2026-11-23T10:05:00Z"}, None,
         dt.datetime(2026, 11, 23, 8, 59, 58, tzinfo=dt.UTC)),
        # The same, with sentAt at the batch level (what the SDKs send).
        ({"originalTimestamp": "2026-11-23T10:04:58Z"}, dt.datetime(2026, 11, 23, 10, 5, tzinfo=dt.UTC),
         dt.datetime(2026, 11, 23, 8, 59, 58, tzinfo=dt.UTC)),
        # A device clock a year slow is corrected as well.
        ({"originalTimestamp": "2025-11-23T08:00:00Z", "sentAt": "2025-11-23T08:00:30Z"}, None,
         dt.datetime(2026, 11, 23, 8, 59, 30, tzinfo=dt.UTC)),
        # originalTimestamp alone is taken as is.
        ({"originalTimestamp": T}, None, dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)),
        # No time at all: when we received it.
        ({}, None, AS_OF),
        ({"timestamp": None, "originalTimestamp": ""}, None, AS_OF),
    ],
)
def test_event_time_follows_segment(
    fields: dict[str, Any], batch_sent_at: dt.datetime | None, expected: dt.datetime
) -> None:
    when = event_time(fields, received_at=AS_OF, batch_sent_at=batch_sent_at)

    assert when == expected
    assert when.tzinfo is not None
    assert parse(track(**fields), batch_sent_at=batch_sent_at).occurred_at == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timestamp": "2026-11-25T09:00:01Z"}, "too far in the future"),
        ({"timestamp": "2036-01-01T00:00:00Z"}, "too far in the future"),
        ({"originalTimestamp": "2030-01-01T00:00:00Z"}, "too far in the future"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp is not an ISO 8601 time"),
        ({"timestamp": 1700000000}, "timestamp must be an ISO 8601 string"),
        ({"originalTimestamp": "2026-13-01T00:00:00Z"}, "originalTimestamp is not an ISO 8601 time"),
    ],
)
def test_unusable_times_are_rejected(fields: dict[str, Any], reason: str) -> None:
    assert reason in rejected(track(**fields))


def test_the_future_limit_is_a_day() -> None:
    edge = (AS_OF + MAX_FUTURE).isoformat()
    beyond = (AS_OF + MAX_FUTURE + dt.timedelta(seconds=1)).isoformat()

    assert parse(track(timestamp=edge)).occurred_at == AS_OF + MAX_FUTURE
    assert "future" in rejected(track(timestamp=beyond))


def test_parse_time_reads_iso_8601_as_aware_utc() -> None:
    assert parse_time("2026-11-22T19:00:00+09:00", "t") == dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)
    assert parse_time(None, "t") is None
    assert parse_time("", "t") is None


# -- size limit --------------------------------------------------------------------------------


def test_a_message_up_to_32_kb_is_accepted_and_one_byte_more_is_not() -> None:
    base = track(properties={"blob": ""})
    room = MAX_MESSAGE_BYTES - len(orjson.dumps(base))
    at_limit = track(properties={"blob": "x" * room})
    over = track(properties={"blob": "x" * (room + 1)})

    assert len(orjson.dumps(at_limit)) == MAX_MESSAGE_BYTES
    assert parse(at_limit).message_id == "m1"
    assert f"message is {MAX_MESSAGE_BYTES + 1} bytes; the limit is {MAX_MESSAGE_BYTES}" in rejected(over)


def test_a_given_size_is_used_instead_of_measuring() -> None:
    assert "limit" in rejected(track(), size=MAX_MESSAGE_BYTES + 1)
    assert parse(track(), size=10).type == "track"


# -- properties --------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
#: What can arrive and be stored: integers within 64 bits and no lone surrogates (orjson reads
#: neither), no NUL characters (PostgreSQL stores none).
STORABLE_TEXT = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20
)
JSON_64 = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | STORABLE_TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STORABLE_TEXT, children, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from([
    "type", "userId", "anonymousId", "messageId", "event", "name", "groupId", "timestamp",
    "originalTimestamp", "sentAt", "traits", "context", "properties",
])
TIMES = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=9)), dt.timezone(dt.timedelta(hours=-5))]
    ),
).map(lambda t: t.isoformat())
VALUES = (
    JSON
    | st.sampled_from(["track", "page", "screen", "identify", "group", "alias", "Track"])
    | TIMES
)
MESSAGES = st.dictionaries(FIELDS | st.text(max_size=8), VALUES, max_size=10)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(raw=MESSAGES | JSON, implied=st.none() | st.sampled_from(["track", "identify", "group"]))
def test_parse_never_raises_anything_but_rejected(raw: Any, implied: str | None) -> None:
    try:
        msg = parse(raw, implied_type=implied)
    except Rejected as exc:
        assert str(exc)
        return
    assert msg.type in {"track", "page", "screen", "identify", "group"}
    assert msg.user_id is not None or msg.anonymous_id is not None
    assert 0 < len(msg.message_id) <= 255
    assert msg.occurred_at.tzinfo is not None
    assert msg.occurred_at - AS_OF <= MAX_FUTURE
    assert msg.payload is raw
    if msg.type in {"track", "page", "screen"}:
        assert msg.name and len(msg.name) <= 255
    if msg.type == "group":
        assert msg.group_id


@settings(max_examples=50, deadline=None)
@given(
    event=STORABLE_TEXT.filter(str.strip),
    user=STORABLE_TEXT.filter(str.strip),
    extra=st.dictionaries(STORABLE_TEXT.map("x_".__add__), JSON_64, max_size=4),
)
def test_a_message_without_id_hashes_the_same_after_a_json_round_trip(
    event: str, user: str, extra: dict[str, Any]
) -> None:
    raw = {**extra, "type": "track", "event": event, "userId": user}

    first = parse(raw).message_id
    resent = parse(orjson.loads(orjson.dumps(raw))).message_id

    assert first == resent


@pytest.mark.parametrize(
    "raw",
    [
        track(properties={"q": "a\u0000b"}),
        track(userId="u\u0000"),
        track(context={"k\u0000": 1}),
        track(properties={"list": [{"deep": ["\u0000"]}]}),
    ],
)
def test_a_nul_character_anywhere_is_rejected(raw: dict[str, Any]) -> None:
    assert "NUL" in rejected(raw)
    assert "NUL" in rejected(raw, size=100)


def test_a_literal_backslash_u0000_is_not_a_nul() -> None:
    assert parse(track(properties={"q": "\\u0000"})).payload["properties"]["q"] == "\\u0000"


# -- the request path's shortcut ---------------------------------------------------------------

_IDS = st.one_of(
    st.none(),
    st.sampled_from(["u1", " u1", "u1 ", "", "   ", "x" * 255, "x" * 256, "anon:x", "\u3000u"]),
    st.integers(-5, 5),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=8),
)
_TIMES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-11-23T08:00:00Z",
            "2026-11-23T08:00:00.123+09:00",
            "2026-11-23T08:00:00",
            "2026-11-23",
            "2026-11-25T09:00:00Z",  # more than a day ahead
            "2026-11-24T08:59:59+00:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "yesterday",
            " 2026-11-23T08:00:00Z",
            "2026-11-23t08:00:00z",
        ]
    ),
    st.integers(0, 2),
)
_GROUP_FIELDS = st.dictionaries(st.sampled_from(["groupId", "account_id", "name", "path"]), _IDS, max_size=3)
_SEATS = st.dictionaries(
    st.sampled_from(["licensed_seats", "licensedSeats", "seats"]),
    st.one_of(
        _IDS,
        st.sampled_from([2**31 - 1, 2**31, 2**63, 1e308, -1, "2147483648", " 12 ", "²", "9" * 30]),
    ),
    max_size=2,
)


_BASES: list[dict[str, Any]] = [
    {"type": "track", "event": "Report Built", "userId": "u1", "context": {"groupId": "acme"}},
    {"type": "track", "event": "Report Built", "anonymousId": "a1", "properties": {"plan": "pro"}},
    {"type": "page", "userId": "u1", "name": "Home"},
    {"type": "screen", "anonymousId": "a1"},
    {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}},
    {"type": "group", "userId": "u1", "groupId": "acme"},
]


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """A message of the usual shape (which the shortcut takes) with a few fields changed."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.none(), max_size=1)))
    raw: dict[str, Any] = {
        **draw(st.sampled_from(_BASES)),
        "messageId": "m1",
        "timestamp": "2026-11-23T08:00:00Z",
    }
    fields: dict[str, st.SearchStrategy[Any]] = {
        "type": st.one_of(
            st.sampled_from(["track", "page", "screen", "identify", "group", "Track", "alias", ""]), _IDS
        ),
        "userId": _IDS,
        "anonymousId": _IDS,
        "messageId": _IDS,
        "groupId": _IDS,
        "event": st.one_of(_IDS, st.just("Report Built"), st.just("  ")),
        "timestamp": _TIMES,
        "originalTimestamp": _TIMES,
        "sentAt": _TIMES,
        "context": st.one_of(st.none(), st.integers(), _GROUP_FIELDS),
        "properties": st.one_of(st.none(), st.text(max_size=2), _GROUP_FIELDS),
        "name": _IDS,
        "traits": st.one_of(st.none(), _GROUP_FIELDS, _SEATS),
        "blob": st.one_of(st.just("a" * (MAX_MESSAGE_BYTES - 40)), st.just("nul\x00"), st.just("\\u0000")),
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            raw.pop(name, None)
        else:
            raw[name] = draw(fields[name])
    return raw


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(messages())
def test_the_request_paths_shortcut_never_accepts_what_the_checks_reject(raw: Any) -> None:
    """Messages of the usual shape skip the full checks (``usual_fields``): whatever the
    shortcut lets through, the full checks accept too, and they extract the same fields."""
    from app.ingest.checks import check_batch
    from app.ingest.segment import _examine, check_message, usual_fields

    if isinstance(raw, dict):
        try:
            encoded = orjson.dumps(raw)
        except orjson.JSONEncodeError:
            encoded = None
        fields = None if encoded is None else usual_fields(raw, encoded, AS_OF + MAX_FUTURE)
        if fields is not None:
            assert encoded is not None
            assert check_message(raw, received_at=AS_OF) == encoded
            assert fields == _examine(raw, AS_OF, None, None, encoded)
    try:
        check_message(raw, received_at=AS_OF)
    except Rejected as exc:
        checked = check_batch([raw], received_at=AS_OF)
        assert checked.accepted == [] and [r.reason for r in checked.rejected] == [str(exc)]
    else:
        assert check_batch([raw], received_at=AS_OF).accepted == [raw]


def test_the_shortcut_takes_the_sdks_usual_messages() -> None:
    from app.ingest.segment import usual_fields

    usual = [
        track(timestamp="2026-11-23T08:00:00.123Z", context={"groupId": "acme"}),
        track(timestamp="2026-11-23T08:00:00+09:00", anonymousId="a1", properties={"plan": "pro"}),
        {"type": "group", "userId": "u1", "groupId": "acme", "timestamp": "2026-11-23T08:00:00Z"},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b"}, "timestamp": "2026-11-23T08:00Z"},
        {"type": "page", "anonymousId": "a1", "name": "Home", "timestamp": "2026-11-23T08:00:00Z"},
    ]
    for raw in usual:
        assert usual_fields(raw, orjson.dumps(raw), AS_OF + MAX_FUTURE) is not None, raw


@pytest.mark.parametrize(
    ("traits", "seats"),
    [
        ({"seats": 12}, 12),
        ({"seats": 12.9}, 12),
        ({"seats": " 12 "}, 12),
        ({"seats": -1, "licensedSeats": 3}, 3),
        ({"licensed_seats": "²", "seats": 4}, 4),  # a digit int() cannot read
        ({"seats": True}, None),
        ({"seats": "twelve"}, None),
        ({}, None),
    ],
)
def test_group_seats_reads_the_first_usable_trait(traits: dict[str, Any], seats: int | None) -> None:
    assert group_seats(traits) == seats


@pytest.mark.parametrize("seats", [MAX_SEATS + 1, 1e308, str(MAX_SEATS + 1), "9" * 5000])
def test_seats_past_the_column_are_rejected(seats: Any) -> None:
    raw = {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"seats": seats}}

    assert "traits.seats is out of range" in rejected(raw)


def test_the_largest_seat_count_the_column_holds_is_accepted() -> None:
    raw = {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"seats": MAX_SEATS}}

    assert parse(raw).traits == {"seats": MAX_SEATS}
