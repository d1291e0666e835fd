"""Hostile messages through the accept path and the applier: nothing raises, and the well-formed
messages around them in the same batch are stored.

Write keys live in browser JavaScript, so anyone can send anything: integers past every column,
floats at the ends of their range, NaN, NUL characters, deep nesting, long strings and the wrong
type in every field. Each example is checked as ``/v1`` checks it (after a trip through JSON, as
on the wire, and as Python values, which can hold what JSON cannot), logged, and applied.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.db import session_scope, table_of
from app.ingest import applier, checks, sources
from app.models import Event, IngestBatch
from tests.conftest import AS_OF

WHEN = "2026-11-23T01:00:00Z"
EVENT = table_of(Event)
_examples = itertools.count()


class Deep(list[Any]):
    """Lists and objects nested ``depth`` deep, with a short repr (Hypothesis prints examples)."""

    def __init__(self, depth: int) -> None:
        value: Any = "deep"
        for level in range(depth - 1):
            value = [value] if level % 2 else {"k": value}
        super().__init__([value])
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30, -(10**30), 10**400]),
    st.floats(),  # NaN and the infinities too (the Python path)
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 3e9]),
)
#: Seat counts at and past the ends of the integer columns (``account.licensed_seats``).
SEATS = st.sampled_from(
    [2**31 - 1, 2**31, 3e9, 2**63, 2**64, 10**30, 1e308, float("inf"), float("nan"), -1, 12, "3000000000"]
)
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "０", "²", " 12 ", "9" * 5000]),
    st.text(max_size=30),
    st.sampled_from(["a\x00b", "\x00", "x" * 256, "y" * 40_000, "\u3000", "\ud7ff\ue000"]),
    st.sampled_from([Deep(20), Deep(300), Deep(2000)]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
TRAIT_KEYS = [
    "seats",
    "licensed_seats",
    "licensedSeats",
    "name",
    "email",
    "title",
    "plan",
    "industry",
    "firstName",
    "lastName",
    "k\x00",
]
TRAITS = st.one_of(HOSTILE, st.dictionaries(st.sampled_from(TRAIT_KEYS), HOSTILE, max_size=4))
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.one_of(st.sampled_from(["track", "page", "screen", "identify", "group", "TRACK"]), HOSTILE),
    "userId": HOSTILE,
    "anonymousId": HOSTILE,
    "messageId": HOSTILE,
    "groupId": HOSTILE,
    "event": HOSTILE,
    "name": HOSTILE,
    "timestamp": st.one_of(HOSTILE, st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00"])),
    "originalTimestamp": HOSTILE,
    "sentAt": HOSTILE,
    "traits": TRAITS,
    "context": st.one_of(HOSTILE, st.fixed_dictionaries({}, optional={"groupId": HOSTILE, "traits": TRAITS})),
    "properties": st.one_of(
        HOSTILE,
        st.fixed_dictionaries({}, optional={"groupId": HOSTILE, "account_id": HOSTILE, "path": HOSTILE}),
    ),
}
BASES: list[dict[str, Any]] = [
    {"type": "track", "event": "Report Built", "userId": "h-u1", "context": {"groupId": "h-acme"}},
    {"type": "page", "anonymousId": "h-a1", "name": "Home"},
    {"type": "identify", "userId": "h-u1", "traits": {"email": "h@example.com"}},
    {"type": "group", "userId": "h-u1", "groupId": "h-acme", "traits": {"seats": 10}},
]


@st.composite
def hostile_message(draw: st.DrawFn) -> Any:
    """A usual message with hostile values in some of its fields, or any value at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(HOSTILE)
    raw = {**draw(st.sampled_from(BASES)), "timestamp": WHEN}
    if raw["type"] == "group" and draw(st.booleans()):  # the seat count reaches an integer column
        raw["traits"] = {draw(st.sampled_from(["seats", "licensed_seats", "licensedSeats"])): draw(SEATS)}
        return raw
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=4, unique=True)):
        raw[name] = draw(FIELDS[name])
    return raw


def wire(raws: list[Any]) -> list[Any] | None:
    """The batch as ``/v1`` reads it from the wire; None if no JSON parser would accept it."""
    try:
        text = json.dumps(raws)  # writes NaN, huge integers: what a hostile sender can send
    except (ValueError, RecursionError):
        return None
    try:
        parsed: list[Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # the whole request is refused with 400
    return parsed


@pytest.fixture
def source_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        source, _ = sources.create_source(session, name="hostile", now=AS_OF)
        assert source.id is not None
        return source.id


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile=st.lists(hostile_message(), min_size=1, max_size=4), on_wire=st.booleans())
def test_hostile_messages_never_stop_their_neighbours(
    engine: Engine, settings: Settings, source_id: int, hostile: list[Any], on_wire: bool
) -> None:
    n = next(_examples)
    good = [
        {
            "type": "group",
            "messageId": f"ok-g{n}",
            "userId": f"ok-u{n}",
            "groupId": f"ok-acct{n}",
            "traits": {"seats": 5},
            "timestamp": WHEN,
        },
        {
            "type": "track",
            "messageId": f"ok-t{n}",
            "userId": f"ok-u{n}",
            "event": "Export",
            "timestamp": WHEN,
        },
    ]
    raws: list[Any] | None = [good[0], *hostile, good[1]]
    if on_wire:
        raws = wire([good[0], *hostile, good[1]])
    if raws is None:
        return  # no JSON parser reads it: the whole request is refused with 400

    checked = checks.check_batch(raws, received_at=AS_OF)
    with session_scope(engine) as session:
        session.add(
            IngestBatch(
                source_id=source_id, received_at=AS_OF, messages=len(checked.accepted), body=checked.body()
            )
        )
    with session_scope(engine) as session:
        applied = applier.apply_log(session, tz=settings.tz, now=AS_OF)

    assert applied.batches == 1
    assert applied.set_aside == 0  # the door let nothing through that the database refuses
    with Session(engine) as session:
        rows = session.execute(
            select(EVENT.c.message_id, EVENT.c.account_id).where(
                EVENT.c.message_id.in_([f"ok-g{n}", f"ok-t{n}"])
            )
        ).all()
    stored = {message_id: account_id for message_id, account_id in rows}
    assert set(stored) == {f"ok-g{n}", f"ok-t{n}"}
    assert stored[f"ok-t{n}"] is not None and stored[f"ok-t{n}"] == stored[f"ok-g{n}"]
