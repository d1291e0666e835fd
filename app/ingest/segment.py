"""The Segment message format, parsed and checked without I/O.

What we accept is what Segment's HTTP Tracking API accepts, tolerant of the small ways SDKs
differ: ``userId`` / ``anonymousId`` null or absent (one is needed), numbers as ids, identify
traits in ``traits`` or ``context.traits``, ``messageId`` any string, unknown fields anywhere
(they stay in the stored payload).

Event time follows Segment: an explicit ``timestamp`` wins; otherwise ``originalTimestamp`` is
corrected for the device's clock skew using ``sentAt`` and the time we received the batch
(``received - (sentAt - originalTimestamp)``); with neither, the receive time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from app.db import column_length, largest_integer
from app.errors import Rejected
from app.models import Account, Contact, Event, TrackedUser
from app.types import account_id_problem

#: Segment's own limits.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
#: Events dated further ahead than this are refused (a device clock years off, a unit mistake).
MAX_FUTURE = dt.timedelta(hours=24)
USAGE_TYPES = frozenset({"track", "page", "screen"})
TYPES = frozenset({"track", "page", "screen", "identify", "group"})
#: Every id a message brings is stored in one of these columns (255 characters each).
_MAX_ID = min(
    column_length(Event, "message_id"),
    column_length(Event, "user_id"),
    column_length(Event, "anonymous_id"),
    column_length(Event, "group_id"),
    column_length(Account, "external_id"),
    column_length(Contact, "external_id"),
    column_length(TrackedUser, "user_id"),
)
#: A group call's seat count becomes ``account.licensed_seats`` (2,147,483,647: 32 bits).
MAX_SEATS = largest_integer(Account, "licensed_seats")
#: The traits a group call's seat count is read from, the first usable one winning.
SEAT_TRAITS = ("licensed_seats", "licensedSeats", "seats")
#: A seat count written with more digits than this is past any integer column (2**63 has 19).
_MAX_SEAT_DIGITS = 20
NUL_REASON = "message contains a NUL character (\\u0000), which cannot be stored"


@dataclass(frozen=True)
class Message:
    type: str
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None  # the account the message names (group call, or context/properties)
    name: str | None  # usage events: the rollup event name
    occurred_at: dt.datetime
    traits: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    payload_json: str | None = None  # the payload serialised, when parsing measured it

    @property
    def user_key(self) -> str:
        """Who did it, for distinct-user counts (see ``user_key``)."""
        return user_key(self.user_id, self.anonymous_id)


ANONYMOUS_PREFIX = "anon:"


def user_key(user_id: str | None, anonymous_id: str | None) -> str:
    """The user id, else ``anon:<anonymousId>``; a user id that itself starts with ``anon:`` gets
    a leading space (ids are stripped, so no other key has one): ``anon:x`` the visitor and
    `` anon:x`` the user are two people."""
    if user_id is None:
        return f"{ANONYMOUS_PREFIX}{anonymous_id}"
    return f" {user_id}" if user_id.startswith(ANONYMOUS_PREFIX) else user_id


def parse_time(value: Any, field_name: str) -> dt.datetime | None:
    """An ISO 8601 time as aware UTC; None when absent; Rejected when unreadable."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Rejected(f"{field_name} must be an ISO 8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Rejected(f"{field_name} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise Rejected(f"{field_name} is out of range: {value[:40]!r}") from None


def _id(value: Any, field_name: str) -> str | None:
    if value is None:
        return None
    if type(value) is str:  # the usual case, first (a third of the time a message takes)
        text = value.strip()
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected(f"{field_name} must be a string")
    else:
        text = str(value).strip()
    if not text:
        return None
    if len(text) > _MAX_ID:
        raise Rejected(f"{field_name} is longer than {_MAX_ID} characters")
    return text


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def seat_trait(traits: dict[str, Any]) -> tuple[str, int] | None:
    """Which trait gives a group call's seat count, and the count (not range-checked): the first
    of ``SEAT_TRAITS`` holding a non-negative number or a string of decimal digits."""
    for key in SEAT_TRAITS:
        value = traits.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value >= 0 and math.isfinite(value):
                return key, int(value)
        elif isinstance(value, str):
            digits = value.strip()
            if digits.isdecimal():  # not isdigit(): int("²") fails
                # int() refuses more than 4,300 digits; any count this long is out of range.
                return key, int(digits) if len(digits) <= _MAX_SEAT_DIGITS else 10**_MAX_SEAT_DIGITS
    return None


def group_seats(traits: dict[str, Any]) -> int | None:
    """A group call's seat count (see ``seat_trait``); None if it gives none."""
    found = seat_trait(traits)
    return None if found is None else found[1]


def _check_seats(raw: dict[str, Any]) -> None:
    found = seat_trait(_dict(raw.get("traits")))
    if found is not None and found[1] > MAX_SEATS:
        raise Rejected(f"traits.{found[0]} is out of range: at most {MAX_SEATS} seats")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event_time(
    msg: dict[str, Any], *, received_at: dt.datetime, batch_sent_at: dt.datetime | None
) -> dt.datetime:
    """When the event happened, corrected for client clock skew as Segment does."""
    timestamp = parse_time(msg.get("timestamp"), "timestamp")
    if timestamp is None:
        original = parse_time(msg.get("originalTimestamp"), "originalTimestamp")
        sent_at = parse_time(msg.get("sentAt"), "sentAt") or batch_sent_at
        if original is not None and sent_at is not None:
            try:
                timestamp = received_at - (sent_at - original)
            except OverflowError:  # a skew of millennia: no clock is that wrong
                raise Rejected("timestamp is out of range after clock-skew correction") from None
        else:
            timestamp = original or received_at
    if timestamp - received_at > MAX_FUTURE:
        raise Rejected(f"timestamp {timestamp.isoformat()} is too far in the future")
    return timestamp


def _usage_name(kind: str, msg: dict[str, Any]) -> str:
    if kind == "track":
        event = msg.get("event")
        if not isinstance(event, str) or not event.strip():
            raise Rejected("track needs a non-empty event name")
        return event.strip()[:_MAX_ID]
    props = _dict(msg.get("properties"))
    label = msg.get("name") or props.get("name") or props.get("path") or ""
    if not isinstance(label, str):
        label = str(label)
    return f"{kind}:{label.strip()}"[:_MAX_ID]


def default_message_id(msg: dict[str, Any]) -> str:
    """A stable id for a message that brought none, so that a resend is still a duplicate."""
    return "h-" + hashlib.sha256(orjson.dumps(msg, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


class _Fields(NamedTuple):
    """What the checks extract from a message (``parse_message`` makes a ``Message`` of it); a
    tuple, made once per message on the request path (a frozen dataclass cost 1 µs more)."""

    type: str
    message_id: str | None  # None: the message brought none (``default_message_id``)
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    name: str | None
    occurred_at: dt.datetime
    context: dict[str, Any]


def _examine(
    raw: Any,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None,
    implied_type: str | None,
    encoded: bytes | None,
    size: int | None = None,
) -> _Fields:
    """Every check a message must pass, in the order its reasons are reported; its size is
    ``size`` if given, else that of ``encoded`` (its compact JSON)."""
    if not isinstance(raw, dict):
        raise Rejected("message is not a JSON object")
    # PostgreSQL cannot store U+0000 in text or jsonb; refuse it on every engine alike.
    if (b"\\u0000" in encoded if encoded is not None else True) and _has_nul(raw):
        raise Rejected(NUL_REASON)
    if size is None and encoded is not None:
        size = len(encoded)
    if size is not None and size > MAX_MESSAGE_BYTES:
        raise Rejected(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    kind = raw.get("type") or implied_type
    if not isinstance(kind, str) or kind.lower() not in TYPES:
        raise Rejected(f"unsupported type {kind!r}; expected one of {', '.join(sorted(TYPES))}")
    kind = kind.lower()
    user_id = _id(raw.get("userId"), "userId")
    anonymous_id = _id(raw.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Rejected("needs a userId or an anonymousId")
    message_id = _id(raw.get("messageId"), "messageId")
    occurred_at = event_time(raw, received_at=received_at, batch_sent_at=batch_sent_at)
    context = _dict(raw.get("context"))
    name = None
    if kind == "group":
        group_id = _id(raw.get("groupId"), "groupId")
        if group_id is None:
            raise Rejected("group needs a groupId")
        _check_seats(raw)
        if account_id_problem(group_id) is not None:  # the rule of every door that makes accounts
            raise Rejected(f"groupId {account_id_problem(group_id)}")
    elif kind == "identify":
        if user_id is None:
            raise Rejected("identify needs a userId")
        group_id = _id(context.get("groupId"), "context.groupId")
    else:
        name = _usage_name(kind, raw)
        props = _dict(raw.get("properties"))
        group_id = (
            _id(context.get("groupId"), "context.groupId")
            or _id(props.get("groupId"), "properties.groupId")
            or _id(props.get("account_id"), "properties.account_id")
        )
    return _Fields(kind, message_id, user_id, anonymous_id, group_id, name, occurred_at, context)


_PLAIN_TYPES = frozenset(TYPES)  # exactly as the SDKs send them (lower case)


def _plain_id(value: Any) -> bool:
    """A non-empty string id with no surrounding space, within the length limit."""
    return type(value) is str and 0 < len(value) <= _MAX_ID and value == value.strip()


def usual_fields(raw: dict[str, Any], encoded: bytes, latest: dt.datetime) -> _Fields | None:
    """What ``_examine`` extracts from a message of the usual shape, which passes every one of
    its checks (``latest``: the receive time plus ``MAX_FUTURE``). None means "not sure": run
    the full checks, which may still accept it. One function with no calls but the time parser:
    the full checks cost three times as much, and nearly every message an SDK sends is of this
    shape (plain string ids, an explicit time zone-aware ``timestamp``, object fields).
    """
    if len(encoded) > MAX_MESSAGE_BYTES or b"\\u0000" in encoded:
        return None
    kind = raw.get("type")
    if type(kind) is not str or kind not in _PLAIN_TYPES:
        return None
    user_id = raw.get("userId")
    if user_id is not None and not _plain_id(user_id):
        return None
    anonymous_id = raw.get("anonymousId")
    if anonymous_id is not None and not _plain_id(anonymous_id):
        return None
    if user_id is None and anonymous_id is None:
        return None
    message_id = raw.get("messageId")
    if message_id is not None and not _plain_id(message_id):
        return None
    timestamp = raw.get("timestamp")
    if type(timestamp) is not str:
        return None
    try:
        at = dt.datetime.fromisoformat(timestamp)
        # Naive, too far ahead, or at the ends of the calendar (UTC may fall outside it): let
        # the full checks decide.
        if at.tzinfo is None or at > latest or not 1 < at.year < 9999:
            return None
    except (ValueError, OverflowError):
        return None
    context = raw.get("context")
    if context is None:
        context = {}
    elif type(context) is not dict:
        return None
    context_group = context.get("groupId")
    if context_group is not None and not _plain_id(context_group):
        return None
    name = None
    if kind == "group":
        group_id = raw.get("groupId")
        if not _plain_id(group_id) or account_id_problem(str(group_id)) is not None:
            # the full check names the reason
            return None
        traits = raw.get("traits")
        if type(traits) is dict and not traits.keys().isdisjoint(SEAT_TRAITS):
            return None  # rare enough to leave to the full checks
    elif kind == "identify":
        if user_id is None:
            return None
        group_id = context_group
    else:
        properties = raw.get("properties")
        if properties is None:
            properties = {}
        elif type(properties) is not dict:
            return None
        if kind == "track":
            event = raw.get("event")
            if type(event) is not str or not event.strip():
                return None
            name = event.strip()[:_MAX_ID]
        else:
            label = raw.get("name") or properties.get("name") or properties.get("path") or ""
            if type(label) is not str:
                return None
            name = f"{kind}:{label.strip()}"[:_MAX_ID]
        group_id = context_group
        if group_id is None and (
            properties.get("groupId") is not None or properties.get("account_id") is not None
        ):
            return None
    return _Fields(kind, message_id, user_id, anonymous_id, group_id, name, at.astimezone(dt.UTC), context)


class OutOfRange:
    """A number in a request body that no column could hold (``1e309``, ``NaN``, ``Infinity``):
    it stands in for the number so that only the message holding it is rejected."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _finite(text: str) -> float | OutOfRange:
    number = float(text)
    return number if math.isfinite(number) else OutOfRange(text)


def loads_body(body: bytes) -> Any:
    """A request body's JSON. orjson refuses a whole document for one number past a double's
    range (``1e309``) or a ``NaN``/``Infinity`` token; such a document is read again with the
    standard parser, each of those numbers kept as an ``OutOfRange`` so that only its message is
    rejected (``encode_message``) and its neighbours are stored. A body that is not JSON at all
    raises ``orjson.JSONDecodeError``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body, parse_float=_finite, parse_constant=OutOfRange)
        except (ValueError, RecursionError):
            raise exc from None


def encode_message(raw: Any) -> bytes:
    """The message as compact JSON (what its size is measured on); Rejected if it has none."""
    try:
        return orjson.dumps(raw)
    except orjson.JSONEncodeError as exc:  # an integer over 64 bits, a number out of range
        if "OutOfRange" in str(exc):
            raise Rejected("a number in the message is out of range") from None
        raise Rejected(f"message is not serialisable as JSON: {exc}") from None


def check_message(
    raw: Any,
    *,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
) -> bytes:
    """Check one message as ``parse_message`` does, without building the result (the request
    path): its compact JSON if accepted; Rejected with the same reason otherwise."""
    encoded = encode_message(raw) if isinstance(raw, dict) else None
    _examine(raw, received_at, batch_sent_at, implied_type, encoded)
    assert encoded is not None  # _examine refuses what is not an object
    return encoded


def parse_message(
    raw: Any,
    *,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
    size: int | None = None,
) -> Message:
    """Check one message and extract what Bansō uses from it; Rejected says what is wrong.
    ``size``: the caller measured the message already (and its limit: not measured again)."""
    encoded = None
    if size is None and isinstance(raw, dict):
        encoded = encode_message(raw)
    fields = None
    if encoded is not None and type(raw) is dict:
        fields = usual_fields(raw, encoded, received_at + MAX_FUTURE)
    if fields is None:
        fields = _examine(raw, received_at, batch_sent_at, implied_type, encoded, size)
    traits: dict[str, Any] = {}
    if fields.type == "group":
        traits = _dict(raw.get("traits"))
    elif fields.type == "identify":
        traits = {**_dict(fields.context.get("traits")), **_dict(raw.get("traits"))}
    return Message(
        type=fields.type,
        message_id=fields.message_id or default_message_id(raw),
        user_id=fields.user_id,
        anonymous_id=fields.anonymous_id,
        group_id=fields.group_id,
        name=fields.name,
        occurred_at=fields.occurred_at,
        traits=traits,
        payload=raw,
        payload_json=encoded.decode() if encoded is not None else None,
    )
