"""Ingestion: Segment-format messages in, raw events and daily rollups out.

Two steps, each one transaction. **Accept** (at request time): check every message (bad ones are
rejected one by one, with the reason logged for the source) and append the good ones, as one row
per batch, to the ingestion log (``ingest_batch``); the request is answered once that commit is
durable. **Apply** (the applier, ``apply_log``, in the background or drained on demand): take the
oldest logged batches, many per transaction, store them as below, and delete their log rows in
the same transaction — a crash before that commit leaves the rows to be applied again, and the
``(source, messageId)`` deduplication below makes a second application count nothing twice.
``ingest_messages`` does both at once, in the caller's transaction (the demo loader, tests).

Storing a batch: apply group calls (upsert the account, link the user); store the raw
events, skipping any ``(source, messageId)`` already stored so a retried batch counts once;
apply identify calls (upsert the contact); and add the new usage events to the daily rollups.
Usage events that cannot be attributed to an account yet are stored as *pending* (account_id
null) and attributed, rollups included, when the group call that links them arrives.

Rollups are kept exact under retries and concurrency by counting distinct users through
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the sets behind each count.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
import psycopg
from sqlalchemy import and_, func, or_, select, text, update
from sqlmodel import Session

from app.db import column_length, table_of, utcnow
from app.ingest import dead_letters
from app.ingest.segment import (
    MAX_FUTURE,
    USAGE_TYPES,
    Message,
    Rejected,
    check_message,
    group_seats,
    parse_message,
    user_key,
    usual_fields,
)
from app.models import (
    Account,
    AccountActivity,
    Contact,
    Event,
    IngestBatch,
    IngestError,
    ScoreDirty,
    Source,
    SourceDailyStat,
    TrackedUser,
    UsageAccountDay,
    UsageActiveUser,
    UsageDaily,
    UsageDailyUser,
)
from app.usage import presence

log = logging.getLogger("bansou.ingest")

#: At most this many rejected messages per batch are written to the source's error log.
MAX_LOGGED_REJECTIONS = 50
_EXCERPT = 2000


EVENT = table_of(Event)
USAGE_DAILY = table_of(UsageDaily)
USAGE_DAILY_USER = table_of(UsageDailyUser)
USAGE_ACCOUNT_DAY = table_of(UsageAccountDay)
USAGE_ACTIVE_USER = table_of(UsageActiveUser)
ACCOUNT_ACTIVITY = table_of(AccountActivity)
SOURCE_DAILY_STAT = table_of(SourceDailyStat)
INGEST_ERROR = table_of(IngestError)
SCORE_DIRTY = table_of(ScoreDirty)
LOG = table_of(IngestBatch)


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    reason: str


@dataclass
class IngestResult:
    accepted: int = 0  # new messages stored
    duplicates: int = 0  # already stored earlier (a retry): acknowledged, not counted again
    pending: int = 0  # new usage events not attributable to an account yet
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return self.accepted + self.duplicates


@dataclass(slots=True)
class UsageRow:
    """One new usage event, for the rollups (slots, not frozen: one is made per event)."""

    account_id: int
    day: dt.date
    event: str
    user_key: str
    occurred_at: dt.datetime


#: Rows per statement on the hot path (SQLite allows 32,766 parameters, PostgreSQL 65,535).
_CHUNK = 500


class _Sql:
    """The hot path's statements, written out for the driver.

    Every track event costs one event row and four rollup rows. Built through SQLAlchemy, the
    per-row type processing and statement construction cost more than the database's own work
    (measured on SQLite: 30 of 57 ms for a 100-event batch); here the values are converted once,
    in the database's own representation (SQLite: SQLAlchemy's text formats for dates and
    times; PostgreSQL: the driver adapts Python values), and the SQL text is built once.
    """

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self._values: dict[tuple[int, int, int], str] = {}

    def marks(self, count: int, first: int = 1) -> str:
        """``?, ?`` (SQLite) or ``$1, $2`` (PostgreSQL) for ``count`` parameters."""
        if self.postgres:
            return ", ".join(f"${n}" for n in range(first, first + count))
        return ", ".join(["?"] * count)

    def time(self, value: dt.datetime) -> Any:
        """A timestamp as UTCDateTime stores it (SQLite: ``2026-11-23 09:00:00.000000``, UTC)."""
        if self.postgres:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def day(self, value: dt.date) -> Any:
        return value if self.postgres else value.isoformat()

    def values(self, rows: int, width: int, json_at: int = -1) -> str:
        """``(?, ?), (?, ?)`` for ``rows`` rows of ``width`` values; ``json_at`` is a jsonb one."""
        key = (rows, width, json_at)
        text_ = self._values.get(key)
        if text_ is None:
            if self.postgres:
                tuples = []
                for row in range(rows):
                    marks = [f"${row * width + n + 1}" for n in range(width)]
                    if json_at >= 0:
                        marks[json_at] = f"CAST({marks[json_at]} AS jsonb)"
                    tuples.append("(" + ", ".join(marks) + ")")
                text_ = ", ".join(tuples)
            else:
                text_ = ", ".join(["(" + ", ".join(["?"] * width) + ")"] * rows)
            self._values[key] = text_
        return text_

    def run(
        self,
        session: Session,
        head: str,
        rows: list[tuple[Any, ...]],
        tail: str = "",
        *,
        json_at: int = -1,
    ) -> list[Any]:
        """``head VALUES ... tail`` for every row, in chunks; the rows any RETURNING gives back."""
        out: list[Any] = []
        if not rows:
            return out
        width = len(rows[0])
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            sql = f"{head} VALUES {self.values(len(chunk), width, json_at)} {tail}"
            out.extend(self.execute(session, sql, [v for row in chunk for v in row]))
        return out

    def execute(self, session: Session, sql: str, params: list[Any]) -> list[Any]:
        """The statement as written, in the session's transaction; its rows, if any.

        On PostgreSQL through a raw cursor, with the server's own ``$1`` placeholders: psycopg
        rewrites ``%s`` into those with a regular expression on every execution of a statement
        too long for its cache (all of the multi-row ones), which cost a third of applying.
        """
        if not self.postgres:
            result = session.connection().exec_driver_sql(sql, tuple(params))
            return list(result.fetchall()) if result.returns_rows else []
        driver = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
        with psycopg.RawCursor(driver) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def select_in(self, session: Session, head: str, values: list[Any], tail: str = "") -> list[Any]:
        """``head IN (...) tail`` over ``values``, in chunks."""
        out: list[Any] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            out.extend(self.execute(session, f"{head} IN ({self.marks(len(chunk))}) {tail}", chunk))
        return out


_SQL: dict[str, _Sql] = {}


def sql_for(dialect: str) -> _Sql:
    """The (cached) statement writer of a dialect."""
    sql = _SQL.get(dialect)
    if sql is None:
        sql = _SQL[dialect] = _Sql(dialect)
    return sql


def _sql(session: Session) -> _Sql:
    return sql_for(session.get_bind().dialect.name)


@dataclass
class Checked:
    """A batch after the request-time checks: the messages to keep and the rejected ones."""

    accepted: list[Any] = field(default_factory=list)  # raw messages, in batch order
    rejected: list[Rejection] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)  # each accepted message's compact JSON

    def body(self) -> bytes:
        """The accepted messages as one JSON array (what the log stores)."""
        return b"[" + b",".join(self.encoded) + b"]"


def check_batch(
    raws: list[Any],
    *,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
) -> Checked:
    """Check every message of a batch (no I/O): which to keep, which are rejected and why."""
    checked = Checked()
    accept, encode = checked.accepted.append, checked.encoded.append
    latest = received_at + MAX_FUTURE
    dumps = orjson.dumps
    for index, raw in enumerate(raws):
        if type(raw) is dict:
            try:
                encoded = dumps(raw)
            except orjson.JSONEncodeError:
                pass
            else:
                if usual_fields(raw, encoded, latest) is not None:
                    accept(raw)
                    encode(encoded)
                    continue
        try:
            encoded = check_message(
                raw,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                implied_type=implied_type,
            )
        except Rejected as exc:
            checked.rejected.append(_rejection(index, raw, exc))
            continue
        accept(raw)
        encode(encoded)
    return checked


def _rejection(index: int, raw: Any, exc: Rejected) -> Rejection:
    message_id = raw.get("messageId") if isinstance(raw, dict) else None
    logged_id = str(message_id).replace("\x00", "\ufffd")[:255] if message_id else None
    return Rejection(index, logged_id, str(exc))


def _parse_all(
    raws: list[Any],
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None,
    implied_type: str | None,
    result: IngestResult,
    seen: set[str],
) -> list[Message]:
    """The batch's messages, without those rejected or already earlier in it (``seen``)."""
    messages: list[Message] = []
    for index, raw in enumerate(raws):
        try:
            msg = parse_message(
                raw,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                implied_type=implied_type,
            )
        except Rejected as exc:
            result.rejected.append(_rejection(index, raw, exc))
            continue
        if msg.message_id in seen:  # the same message twice in one batch
            result.duplicates += 1
            continue
        seen.add(msg.message_id)
        messages.append(msg)
    return messages


def ingest_messages(
    session: Session,
    *,
    source: Source,
    raws: list[Any],
    received_at: dt.datetime,
    tz: ZoneInfo,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
) -> IngestResult:
    """Check and store a batch of Segment messages for ``source`` at once, without the log."""
    assert source.id is not None
    result = IngestResult()
    messages = _parse_all(raws, received_at, batch_sent_at, implied_type, result, set())
    if messages:
        _store(session, source, messages, [received_at] * len(messages), tz, result)
    day = received_at.astimezone(tz).date()
    _add_stats(session, source.id, day, result.accepted, len(result.rejected), result.duplicates)
    _log_rejections(session, source.id, raws, result.rejected, received_at)
    return result


# -- the ingestion log -------------------------------------------------------------------------


class _Turn:
    """Who writes next, within one process.

    SQLite has one writer: the request writer and the applier take turns on ``lock`` rather than
    on SQLite's busy handler (which sleeps up to 100 ms between tries). And requests go first,
    on any engine: the applier rests after each of its transactions in proportion to how busy
    ``/v1`` was while it last rested (``ApplierPacer``), so a flood is acknowledged at nearly the
    speed of the log (senders' buffers are finite: an SDK whose requests are slow drops events)
    and applied in full once it ebbs, while steady traffic that leaves time free leaves it to
    the applier; past the backlog limit requests are refused with 503 until it catches up.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count_lock = threading.Lock()
        self.in_flight = 0
        self.last_request = float("-inf")  # time.monotonic() when a request last ended
        self.busy_total = 0.0  # seconds during which a request was in flight, summed
        self.busy_since = 0.0  # time.monotonic() when the requests in flight began

    @contextmanager
    def request(self) -> Iterator[None]:
        with self.count_lock:
            if not self.in_flight:
                self.busy_since = time.monotonic()
            self.in_flight += 1
        try:
            yield
        finally:
            with self.count_lock:
                self.in_flight -= 1
                self.last_request = time.monotonic()
                if not self.in_flight:
                    self.busy_total += self.last_request - self.busy_since

    def busy(self, quiet: float) -> bool:
        """Whether a request is in flight or ended less than ``quiet`` seconds ago."""
        return bool(self.in_flight) or time.monotonic() - self.last_request < quiet

    def busy_seconds(self) -> float:
        """Seconds during which a request was in flight, since the process started."""
        with self.count_lock:
            ongoing = time.monotonic() - self.busy_since if self.in_flight else 0.0
            return self.busy_total + ongoing


_TURN = _Turn()
#: While requests keep the server busy all the time, the applier still takes this share of it:
#: after a transaction of 0.2 s it rests 1.8 s. A flood is acknowledged at ~9/10 of full speed
#: and its backlog is applied in full when it ebbs; a larger share hardly slows the backlog's
#: growth during a flood (the applier stores events several times slower than they are
#: acknowledged) but slows the acknowledgements, and senders' buffers are finite. Measured
#: with the benchmark: a quarter gave 25,000 acknowledged events/s, a tenth 27,800.
APPLIER_SHARE = 0.1
#: Requests count as coming in until none has been in flight for this long (a client's next
#: batch follows its previous answer within a few milliseconds).
APPLIER_QUIET = 0.05


def request_in_flight() -> contextlib.AbstractContextManager[None]:
    """Mark a ``/v1`` request in flight for as long as the block runs (the applier waits)."""
    return _TURN.request()


class ApplierPacer:
    """How long the applier rests between transactions: it takes the share of the time that
    ``/v1`` requests left free while it last rested, and at least ``APPLIER_SHARE``.

    Requests busy 10% of the rest → the applier takes 90%: a transaction of 0.2 s, then 0.02 s
    of rest; busy all the time → 10%: 0.2 s, then 1.8 s. The busy time is measured only while
    the applier rests: while it writes, requests wait for it (SQLite), which says nothing.
    """

    def __init__(self, turn: _Turn | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.turn = turn or _TURN
        self.clock = clock
        self.rest_began: tuple[float, float] | None = None  # (clock, busy seconds)
        self.utilization = 0.0  # share of the last rest during which requests were in flight

    def starting(self) -> None:
        """Call before each transaction: measures how busy requests were during the rest."""
        if self.rest_began is None:  # no rest to measure: are requests coming in right now?
            self.utilization = 1.0 if self.turn.busy(APPLIER_QUIET) else 0.0
            return
        began, busy = self.rest_began
        elapsed = self.clock() - began
        if elapsed > 0:
            self.utilization = min(1.0, (self.turn.busy_seconds() - busy) / elapsed)

    def rest(self, took: float) -> float:
        """Seconds to rest after a transaction that stored something and took ``took`` s."""
        share = max(APPLIER_SHARE, 1.0 - self.utilization)
        self.rest_began = (self.clock(), self.turn.busy_seconds())
        return max(0.001, took * (1 - share) / share)

    def idle(self) -> None:
        """Call when a transaction found nothing to store: the next rest is measured afresh."""
        self.rest_began = None


def write_turn_lock() -> threading.Lock:
    """The process's write turn on SQLite (``_Turn``): the log writer takes it without waiting."""
    return _TURN.lock


@contextmanager
def writer_turn(engine: Any) -> Iterator[None]:
    """Hold the process's write turn: on SQLite the one writer's (see ``_Turn``)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _TURN.lock:
        yield


def take_write_lock(session: Session) -> None:
    """On SQLite, make the transaction the writer before it reads anything.

    A transaction that reads first and writes later cannot wait for another writer that
    committed in between (its snapshot is stale: SQLITE_BUSY_SNAPSHOT, no busy timeout); one
    that writes first waits its turn. A DELETE matching nothing is the cheapest write.
    PostgreSQL needs nothing: its row locks wait.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("DELETE FROM ingest_batch WHERE id < 0")


@dataclass(frozen=True)
class Backlog:
    """What the log holds: acknowledged batches not applied yet."""

    batches: int
    messages: int
    oldest_received_at: dt.datetime | None


def backlog(session: Session) -> Backlog:
    """The ingestion log's size and age (its oldest batch is how far the applier lags)."""
    batches, messages, oldest = session.execute(
        select(func.count(), func.coalesce(func.sum(LOG.c.messages), 0), func.min(LOG.c.received_at))
    ).one()
    return Backlog(batches, int(messages), oldest)


@dataclass
class Applied:
    """What one ``apply_log`` call did."""

    batches: int = 0
    messages: int = 0
    accepted: int = 0  # new messages stored
    duplicates: int = 0  # already stored (a retried batch): counted once
    pending: int = 0  # new usage events not attributable to an account yet
    rejected: int = 0  # refused at apply time only if the checks changed since acceptance
    set_aside: int = 0  # the database refused them: kept as dead letters (``dead_letters``)
    busy: bool = False  # another process's applier holds the log (PostgreSQL)


#: One apply transaction takes the oldest batches up to about this many messages: large enough
#: that the rollup writes collapse (a 300-account day has ~6,000 rollup rows, not one per event),
#: small enough that a request waiting to append to the log waits well under a second.
APPLY_MESSAGES = 5000
#: ... and while requests are coming in, about this many: on SQLite a request waits for the
#: applier's transaction to end, ~0.1 s rather than ~0.5 s.
APPLY_MESSAGES_BUSY = 1000


def apply_budget() -> int:
    """How many messages the applier's next transaction should take (see ``_Turn``)."""
    return APPLY_MESSAGES_BUSY if _TURN.busy(APPLIER_QUIET) else APPLY_MESSAGES


_APPLIER_KEY = int.from_bytes(
    hashlib.blake2b(b"bansou:ingest:applier", digest_size=8).digest(), "big", signed=True
)


@dataclass
class _Unit:
    """Consecutive logged batches stored with one ``_store`` call."""

    source_id: int
    day: dt.date
    mergeable: bool  # usage only: storing it together with its neighbours changes nothing
    messages: list[Message] = field(default_factory=list)
    received: list[dt.datetime] = field(default_factory=list)
    origins: list[dead_letters.Origin] = field(default_factory=list)  # each message's log row
    result: IngestResult = field(default_factory=IngestResult)
    seen: set[str] = field(default_factory=set)
    set_aside: int = 0


def apply_log(
    session: Session,
    *,
    tz: ZoneInfo,
    max_messages: int = APPLY_MESSAGES,
    wait: bool = True,
    now: dt.datetime | None = None,
) -> Applied:
    """Store the oldest logged batches (about ``max_messages`` messages) and delete them from
    the log, in the caller's transaction; a message the database refuses is set aside (see
    ``dead_letters``). One applier at a time: on PostgreSQL an advisory lock (``wait=False``:
    return ``busy`` at once if another process holds it)."""
    applied = Applied()
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPLIER_KEY})
        elif not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _APPLIER_KEY}).scalar():
            applied.busy = True
            return applied
    else:
        take_write_lock(session)
    heads = session.execute(select(LOG.c.id, LOG.c.messages).order_by(LOG.c.id).limit(1000)).all()
    ids: list[int] = []
    for id_, count in heads:
        if ids and applied.messages + count > max_messages:
            break
        ids.append(id_)
        applied.messages += count
    if not ids:
        return applied
    rows = session.execute(
        select(LOG.c.id, LOG.c.source_id, LOG.c.received_at, LOG.c.sent_at, LOG.c.implied_type, LOG.c.body)
        .where(LOG.c.id.in_(ids))
        .order_by(LOG.c.id)
    ).all()
    sources = {
        s.id: s
        for s in session.execute(
            select(Source).where(Source.id.in_({r.source_id for r in rows}))  # type: ignore[union-attr]
        ).scalars()
    }

    units: list[_Unit] = []
    for row in rows:
        origin = dead_letters.Origin(row.received_at, row.sent_at, row.implied_type)
        day = row.received_at.astimezone(tz).date()
        unit = units[-1] if units else None
        raws = orjson.loads(row.body)
        probe = IngestResult()
        messages = _parse_all(raws, row.received_at, row.sent_at, row.implied_type, probe, set())
        mergeable = all(m.type in USAGE_TYPES for m in messages)
        if not (
            unit and mergeable and unit.mergeable and unit.source_id == row.source_id and unit.day == day
        ):
            unit = _Unit(row.source_id, day, mergeable)
            units.append(unit)
        unit.result.rejected.extend(probe.rejected)
        if probe.rejected:
            _log_rejections(session, row.source_id, raws, probe.rejected, row.received_at)
        unit.result.duplicates += probe.duplicates
        for msg in messages:
            if msg.message_id in unit.seen:
                unit.result.duplicates += 1
                continue
            unit.seen.add(msg.message_id)
            unit.messages.append(msg)
            unit.received.append(row.received_at)
            unit.origins.append(origin)

    for unit in units:
        result = unit.result
        if unit.messages:
            _store_or_set_aside(session, sources[unit.source_id], unit, tz, now)
            applied.set_aside += unit.set_aside
        _add_stats(
            session, unit.source_id, unit.day, result.accepted, len(result.rejected), result.duplicates
        )
        applied.accepted += result.accepted
        applied.duplicates += result.duplicates
        applied.pending += result.pending
        applied.rejected += len(result.rejected)
    _sql(session).select_in(session, "DELETE FROM ingest_batch WHERE id", ids)
    dead_letters.clear_failure(session)
    applied.batches = len(ids)
    return applied


def _store_or_set_aside(
    session: Session, source: Source, unit: _Unit, tz: ZoneInfo, now: dt.datetime, lo: int = 0, hi: int = -1
) -> None:
    """Store a unit's messages ``lo:hi`` in a savepoint; if the database refuses them, store each
    half the same way, down to single messages, and set aside each one it refuses (one bad
    message among 5,000 costs ~26 attempts, not 5,000). Errors that are the database's
    (``is_transient``) propagate: the whole transaction is retried later."""
    hi = len(unit.messages) if hi < 0 else hi
    result = IngestResult()
    try:
        with session.begin_nested():
            _store(session, source, unit.messages[lo:hi], unit.received[lo:hi], tz, result)
    except Exception as exc:
        if dead_letters.is_transient(exc):
            raise
        if hi - lo > 1:
            mid = (lo + hi) // 2
            _store_or_set_aside(session, source, unit, tz, now, lo, mid)
            _store_or_set_aside(session, source, unit, tz, now, mid, hi)
            return
        msg = unit.messages[lo]
        log.warning("ingestion: message %r of source %s set aside: %r", msg.message_id, source.id, exc)
        assert source.id is not None
        dead_letters.set_aside(
            session,
            source_id=source.id,
            origin=unit.origins[lo],
            message_id=msg.message_id,
            message_json=(msg.payload_json or "").encode() or dead_letters.encode(msg.payload),
            exc=exc,
            now=now,
        )
        unit.set_aside += 1
    else:
        _add_result(unit.result, result)


def _add_result(total: IngestResult, part: IngestResult) -> None:
    total.accepted += part.accepted
    total.duplicates += part.duplicates
    total.pending += part.pending


def _store(
    session: Session,
    source: Source,
    messages: list[Message],
    received: list[dt.datetime],
    tz: ZoneInfo,
    result: IngestResult,
) -> None:
    """Store messages (deduplicated within themselves) received at ``received`` (one each)."""
    received_at = max(received)
    groups = sorted(  # by account, then batch order: row locks in one order across transactions
        (m for m in messages if m.type == "group" and m.group_id), key=lambda m: m.group_id or ""
    )
    named = {m.group_id for m in messages if m.group_id}
    accounts = _account_ids(session, named)
    grouping_users = {m.user_id for m in groups if m.user_id}
    unlinked = {
        m.user_id
        for m in messages
        if m.type in USAGE_TYPES and m.user_id and not m.group_id and m.user_id not in grouping_users
    }
    known_links = _user_links(session, unlinked)
    if session.get_bind().dialect.name == "postgresql":
        _serialise_with_attribution(session, messages, groups, accounts, unlinked, known_links)

    # Group calls first, so that usage in the same batch is attributed to their accounts.
    links: dict[str, int] = {}
    for m in groups:
        assert m.group_id is not None
        accounts[m.group_id] = _upsert_account(session, m.group_id, m.traits, received_at)
    for m in messages:
        if m.type == "group" and m.group_id and m.user_id:
            links[m.user_id] = accounts[m.group_id]

    def account_for(m: Message) -> int | None:
        if m.group_id:
            return accounts.get(m.group_id)
        if m.user_id:
            return links.get(m.user_id) or known_links.get(m.user_id)
        return None

    sql = _sql(session)
    times: dict[dt.datetime, Any] = {}
    attributions: list[int | None] = []
    rows: list[tuple[Any, ...]] = []
    for m, at in zip(messages, received, strict=True):
        account_id = account_for(m) if m.type in USAGE_TYPES else accounts.get(m.group_id or "")
        attributions.append(account_id)
        stamp = times.get(at)
        if stamp is None:
            stamp = times[at] = sql.time(at)
        rows.append(
            (
                source.id,
                m.message_id,
                m.type,
                m.name,
                m.user_id,
                m.anonymous_id,
                m.group_id,
                account_id,
                sql.time(m.occurred_at),
                stamp,
                m.payload_json or _json(m.payload),
            )
        )
    # Sorted, so that two transactions racing on the same messages wait rather than deadlock.
    rows.sort(key=lambda r: cast(str, r[1]))
    new_ids = {
        row[0]
        for row in sql.run(
            session,
            f"INSERT INTO {EVENT.name} (source_id, message_id, type, name, user_id, "
            "anonymous_id, group_id, account_id, occurred_at, received_at, payload)",
            rows,
            "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id",
            json_at=10,
        )
    }
    result.accepted += len(new_ids)
    result.duplicates += len(messages) - len(new_ids)

    usage: list[UsageRow] = []
    fresh_links: dict[str, int] = {}
    for m, attributed in zip(messages, attributions, strict=True):
        if m.message_id not in new_ids:
            continue
        if m.type in USAGE_TYPES:
            if attributed is None:
                result.pending += 1
            else:
                usage.append(
                    UsageRow(
                        attributed,
                        m.occurred_at.astimezone(tz).date(),
                        m.name or m.type,
                        m.user_key,
                        m.occurred_at,
                    )
                )
        elif m.type == "identify" and m.user_id:
            account_id = accounts.get(m.group_id or "") or links.get(m.user_id)
            _identify(session, m.user_id, m.traits, account_id, received_at)
        elif m.type == "group" and m.user_id and m.group_id:
            _link_user(session, m.user_id, accounts[m.group_id], received_at)
            # Every new group call, not only a moved link: an identify earlier in this batch
            # may already have recorded the link, and the user's older events still wait.
            fresh_links[m.user_id] = accounts[m.group_id]

    # Events that named one of these accounts before it existed, or came from a user whose
    # account we did not know, are attributed now.
    grouped = sorted({m.group_id for m in groups if m.group_id})
    if fresh_links or grouped:
        usage.extend(_attribute_pending(session, fresh_links, grouped, accounts, tz))
    add_usage(session, usage, received_at)
    sql.execute(
        session,
        f"UPDATE source SET last_event_at = {sql.marks(1)} WHERE id = {sql.marks(1, 2)}",  # noqa: S608
        [sql.time(received_at), source.id],
    )


def _serialise_with_attribution(
    session: Session,
    messages: list[Message],
    groups: list[Message],
    accounts: dict[str, int],
    unlinked: set[str],
    known_links: dict[str, int],
) -> None:
    """On PostgreSQL, make storing a pending event and attributing it mutually exclusive.

    Without this, a batch with a user's first event and a concurrent batch with the user's
    group call can each miss the other (neither sees the other's uncommitted rows) and leave the
    event pending forever. Transactional advisory locks, one per user or account id involved,
    taken before any write and in sorted order, serialise just those transactions; the reads
    made before waiting are then repeated (READ COMMITTED sees what the other committed).
    Users and accounts that are created here are locked too, so two batches never race to
    insert the same account, user or contact. SQLite needs none of this: it has one writer.

    Within one process batches are written one transaction at a time (``app.api.segment``), so
    they never wait for each other here; between processes, a transaction that already wrote
    other batches of its group may deadlock with another, and PostgreSQL then fails one of them
    (the clients retry its batches: 503).
    """
    grouped = {m.group_id for m in groups if m.group_id}
    waiting_groups = {
        m.group_id
        for m in messages
        if m.type in USAGE_TYPES and m.group_id and m.group_id not in accounts and m.group_id not in grouped
    }
    waiting_users = unlinked - known_links.keys()
    users = {m.user_id for m in messages if m.type in ("group", "identify") and m.user_id}
    keys = {_lock_key("user", u) for u in users | waiting_users}
    keys |= {_lock_key("account", g) for g in grouped | waiting_groups}
    if not keys:
        return
    session.execute(
        text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)"),
        {"keys": sorted(keys)},
    )
    if waiting_groups:
        accounts.update(_account_ids(session, waiting_groups))
    if waiting_users:
        known_links.update(_user_links(session, waiting_users))


def _lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key for a user or account id (collisions only wait)."""
    digest = hashlib.blake2b(f"bansou:ingest:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _account_ids(session: Session, external_ids: set[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    rows = _sql(session).select_in(
        session, "SELECT external_id, id FROM account WHERE external_id", sorted(external_ids)
    )
    return {ext: id_ for ext, id_ in rows}


def _user_links(session: Session, user_ids: set[str]) -> dict[str, int]:
    if not user_ids:
        return {}
    rows = _sql(session).select_in(
        session,
        "SELECT user_id, account_id FROM tracked_user WHERE account_id IS NOT NULL AND user_id",
        sorted(user_ids),
    )
    return {u: a for u, a in rows}


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


_ACCOUNT_NAME = column_length(Account, "name")


def _upsert_account(session: Session, external_id: str, traits: dict[str, Any], now: dt.datetime) -> int:
    """Create the account a group call names, or update it from the call's traits."""
    account = session.execute(
        select(Account).where(Account.external_id == external_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if account is None:
        account = Account(
            external_id=external_id,
            name=_text(traits.get("name"), _ACCOUNT_NAME) or external_id,
            created_at=now,
            updated_at=now,
            traits={},
        )
    changed = False
    for attr, key in (("name", "name"), ("industry", "industry"), ("plan", "plan")):
        value = _text(traits.get(key), column_length(Account, attr))
        if value and getattr(account, attr) != value:
            setattr(account, attr, value)
            changed = True
    seats = group_seats(traits)
    if seats is not None and account.licensed_seats != seats:
        account.licensed_seats = seats
        changed = True
    merged = {**(account.traits or {}), **traits}
    if merged != account.traits:
        account.traits = merged
        changed = True
    if changed or account.id is None:
        account.updated_at = now
        session.add(account)
        session.flush()
    assert account.id is not None
    return account.id


def _tracked_user(session: Session, user_id: str) -> TrackedUser | None:
    return session.execute(
        select(TrackedUser).where(TrackedUser.user_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()


def _link_user(session: Session, user_id: str, account_id: int, now: dt.datetime) -> bool:
    """Record the user's latest group link; True when it is new or moved. Creates the contact."""
    user = _tracked_user(session, user_id)
    moved = user is None or user.account_id != account_id
    if user is None:
        user = TrackedUser(
            user_id=user_id, account_id=account_id, traits={}, first_seen_at=now, last_seen_at=now
        )
    user.account_id = account_id
    user.last_seen_at = now
    session.add(user)
    _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()
    return moved


def _identify(
    session: Session,
    user_id: str,
    traits: dict[str, Any],
    account_id: int | None,
    now: dt.datetime,
) -> None:
    user = _tracked_user(session, user_id)
    if user is None:
        user = TrackedUser(user_id=user_id, account_id=None, traits={}, first_seen_at=now, last_seen_at=now)
    user.traits = {**(user.traits or {}), **traits}
    user.last_seen_at = now
    account_id = account_id or user.account_id
    user.account_id = account_id
    session.add(user)
    if account_id is not None:
        _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()


def _upsert_contact(
    session: Session, user_id: str, traits: dict[str, Any], account_id: int, now: dt.datetime
) -> None:
    contact = session.execute(
        select(Contact).where(Contact.external_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if contact is None:
        contact = Contact(
            account_id=account_id, external_id=user_id, traits={}, created_at=now, updated_at=now
        )
    contact.account_id = account_id
    email = _text(traits.get("email"), column_length(Contact, "email"))
    if email and "@" in email:
        contact.email = email.lower()
    name_limit = column_length(Contact, "name")
    name = _text(traits.get("name"), name_limit) or _text(
        " ".join(str(traits[k]) for k in ("lastName", "firstName") if traits.get(k)), name_limit
    )
    if name:
        contact.name = name
    title = _text(traits.get("title"), column_length(Contact, "title"))
    if title:
        contact.title = title
    contact.traits = {**(contact.traits or {}), **traits}
    contact.updated_at = now
    session.add(contact)


def _attribute_pending(
    session: Session,
    links: dict[str, int],
    group_ids: list[str],
    accounts: dict[str, int],
    tz: ZoneInfo,
) -> list[UsageRow]:
    """Attribute waiting usage events to accounts that just became known; their usage rows."""
    conditions = []
    if links:
        conditions.append(and_(EVENT.c.group_id.is_(None), EVENT.c.user_id.in_(links)))
    if group_ids:
        conditions.append(EVENT.c.group_id.in_(group_ids))
    rows = session.execute(
        select(
            EVENT.c.id,
            EVENT.c.type,
            EVENT.c.name,
            EVENT.c.user_id,
            EVENT.c.anonymous_id,
            EVENT.c.group_id,
            EVENT.c.occurred_at,
        ).where(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES), or_(*conditions))
    ).all()
    by_account: dict[int, list[int]] = defaultdict(list)
    usage = []
    for id_, kind, name, user_id, anonymous_id, group_id, occurred_at in rows:
        account_id = accounts.get(group_id) if group_id else links.get(user_id)
        if account_id is None:
            continue
        occurred = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC)
        by_account[account_id].append(id_)
        usage.append(
            UsageRow(
                account_id,
                occurred.astimezone(tz).date(),
                name or kind,
                user_key(user_id, anonymous_id),
                occurred,
            )
        )
    for account_id, ids in by_account.items():
        for start in range(0, len(ids), 500):
            session.execute(
                update(EVENT).where(EVENT.c.id.in_(ids[start : start + 500])).values(account_id=account_id)
            )
    return usage


def add_usage(session: Session, usage: list[UsageRow], received_at: dt.datetime) -> None:
    """Add new (never seen before) usage events to the daily rollups."""
    if not usage:
        return
    counts: Counter[tuple[int, dt.date, str]] = Counter()
    day_counts: Counter[tuple[int, dt.date]] = Counter()
    pairs: set[tuple[int, dt.date, str, str]] = set()
    actives: set[tuple[int, dt.date, str]] = set()
    latest: dict[int, dt.datetime] = {}
    for row in usage:
        counts[(row.account_id, row.day, row.event)] += 1
        day_counts[(row.account_id, row.day)] += 1
        pairs.add((row.account_id, row.day, row.event, row.user_key))
        actives.add((row.account_id, row.day, row.user_key))
        if row.account_id not in latest or row.occurred_at > latest[row.account_id]:
            latest[row.account_id] = row.occurred_at

    sql = _sql(session)
    days = {d: sql.day(d) for d in {row.day for row in usage}}
    # Every list below is sorted: concurrent transactions then lock rows in the same order and
    # wait for each other instead of deadlocking (PostgreSQL).
    new_users: Counter[tuple[int, Any, str]] = Counter(
        (a, d, e)
        for a, d, e in sql.run(
            session,
            f"INSERT INTO {USAGE_DAILY_USER.name} (account_id, day, event, user_key)",
            [(a, days[d], e, u) for a, d, e, u in sorted(pairs)],
            "ON CONFLICT DO NOTHING RETURNING account_id, day, event",
        )
    )
    # A row whose count is now exactly what this batch added was absent (or zero) before.
    first_events = (
        {
            (a, d, e)
            for a, d, e, total in sql.run(
                session,
                f"INSERT INTO {USAGE_DAILY.name} (account_id, day, event, event_count, distinct_users)",
                [(a, days[d], e, n, new_users[(a, days[d], e)]) for (a, d, e), n in sorted(counts.items())],
                "ON CONFLICT (account_id, day, event) DO UPDATE SET "
                "event_count = usage_daily.event_count + excluded.event_count, "
                "distinct_users = usage_daily.distinct_users + excluded.distinct_users "
                "RETURNING account_id, day, event, event_count",
            )
            if total == counts_by_key[(a, d, e)]
        }
        if (counts_by_key := {(a, days[d], e): n for (a, d, e), n in counts.items()})
        else set()
    )
    new_active_users = set(
        sql.run(
            session,
            f"INSERT INTO {USAGE_ACTIVE_USER.name} (account_id, day, user_key)",
            [(a, days[d], u) for a, d, u in sorted(actives)],
            "ON CONFLICT DO NOTHING RETURNING account_id, day, user_key",
        )
    )
    new_actives: Counter[tuple[int, Any]] = Counter((a, d) for a, d, _ in new_active_users)
    day_totals = {(a, days[d]): n for (a, d), n in day_counts.items()}
    first_days = {
        (a, d)
        for a, d, total in sql.run(
            session,
            f"INSERT INTO {USAGE_ACCOUNT_DAY.name} (account_id, day, event_count, active_users)",
            [(a, days[d], n, new_actives[(a, days[d])]) for (a, d), n in sorted(day_counts.items())],
            "ON CONFLICT (account_id, day) DO UPDATE SET "
            "event_count = usage_account_day.event_count + excluded.event_count, "
            "active_users = usage_account_day.active_users + excluded.active_users "
            "RETURNING account_id, day, event_count",
        )
        if total == day_totals[(a, d)]
    }
    received = sql.time(received_at)
    sql.run(
        session,
        f"INSERT INTO {ACCOUNT_ACTIVITY.name} (account_id, last_event_at, last_received_at)",
        [(a, sql.time(t), received) for a, t in sorted(latest.items())],
        "ON CONFLICT (account_id) DO UPDATE SET last_event_at = CASE "
        "WHEN excluded.last_event_at > account_activity.last_event_at "
        "THEN excluded.last_event_at ELSE account_activity.last_event_at END, "
        "last_received_at = excluded.last_received_at",
    )
    # The scheduler rescores these accounts within minutes.
    sql.run(
        session,
        f"INSERT INTO {SCORE_DIRTY.name} (account_id, since)",
        [(a, received) for a in sorted(latest)],
        # The latest change's time: a scoring run clears only the marks it read.
        "ON CONFLICT (account_id) DO UPDATE SET since = excluded.since",
    )
    # Presence bits mirror "count > 0" (account-days, events) and active-user rows, so only what
    # just became active can lack its bit: a user's second event of the day needs no presence
    # work at all (it read ~50 presence rows per event otherwise).
    presence.record_usage(
        session,
        [
            row
            for row in usage
            if (row.account_id, days[row.day], row.user_key) in new_active_users
            or (row.account_id, days[row.day], row.event) in first_events
            or (row.account_id, days[row.day]) in first_days
        ],
    )


def _stats_statement(
    sql: _Sql, source_id: int, day: dt.date, accepted: int, rejected: int, duplicates: int
) -> tuple[str, list[Any]]:
    return (
        f"INSERT INTO {SOURCE_DAILY_STAT.name} (source_id, day, accepted, rejected, duplicates) "  # noqa: S608
        f"VALUES ({sql.marks(5)}) ON CONFLICT (source_id, day) DO UPDATE SET "
        "accepted = source_daily_stat.accepted + excluded.accepted, "
        "rejected = source_daily_stat.rejected + excluded.rejected, "
        "duplicates = source_daily_stat.duplicates + excluded.duplicates",
        [source_id, sql.day(day), accepted, rejected, duplicates],
    )


def _rejection_log_statements(
    sql: _Sql, source_id: int, raws: list[Any], rejected: list[Rejection], received_at: dt.datetime
) -> list[tuple[str, list[Any]]]:
    """The source's error log rows (the first ``MAX_LOGGED_REJECTIONS``) and its last error."""
    logged = rejected[:MAX_LOGGED_REJECTIONS]
    when = sql.time(received_at)
    rows = [(source_id, when, r.message_id, r.reason[:500], _excerpt(raws[r.index])) for r in logged]
    last = rejected[-1]
    return [
        (
            f"INSERT INTO {INGEST_ERROR.name} (source_id, received_at, message_id, reason, excerpt) "  # noqa: S608
            f"VALUES {sql.values(len(rows), 5)}",
            [v for row in rows for v in row],
        ),
        (
            f"UPDATE source SET last_error_at = {sql.marks(1)}, last_error = {sql.marks(1, 2)} "  # noqa: S608
            f"WHERE id = {sql.marks(1, 3)}",
            [when, f"{last.reason}"[:1000], source_id],
        ),
    ]


def rejection_statements(
    sql: _Sql,
    source_id: int,
    day: dt.date,
    raws: list[Any],
    rejected: list[Rejection],
    received_at: dt.datetime,
) -> list[tuple[str, list[Any]]]:
    """What a batch's rejections write: the source's daily count, its error log, its last error."""
    if not rejected:
        return []
    return [
        _stats_statement(sql, source_id, day, 0, len(rejected), 0),
        *_rejection_log_statements(sql, source_id, raws, rejected, received_at),
    ]


def _add_stats(
    session: Session, source_id: int, day: dt.date, accepted: int, rejected: int, duplicates: int
) -> None:
    if not (accepted or rejected or duplicates):
        return
    sql = _sql(session)
    sql.execute(session, *_stats_statement(sql, source_id, day, accepted, rejected, duplicates))


def _log_rejections(
    session: Session,
    source_id: int,
    raws: list[Any],
    rejected: list[Rejection],
    received_at: dt.datetime,
) -> None:
    if not rejected:
        return
    sql = _sql(session)
    for statement, params in _rejection_log_statements(sql, source_id, raws, rejected, received_at):
        sql.execute(session, statement, params)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _excerpt(raw: Any) -> str:
    try:
        return orjson.dumps(raw).decode()[:_EXCERPT]
    except TypeError:
        return repr(raw)[:_EXCERPT]


def pending_summary(session: Session, *, limit: int = 50) -> dict[str, Any]:
    """What is not in the rollups yet: usage events waiting for an account (how many, since
    when, from whom), acknowledged batches the applier has not stored yet (``queued``) and
    whether it is failing or has set messages aside (``applier``)."""
    pending = and_(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES))
    total, oldest = session.execute(select(func.count(), func.min(EVENT.c.received_at)).where(pending)).one()
    who = func.coalesce(EVENT.c.user_id, "anon:" + func.coalesce(EVENT.c.anonymous_id, ""))
    rows = session.execute(
        select(
            who.label("who"),
            EVENT.c.group_id,
            func.count().label("n"),
            func.min(EVENT.c.received_at).label("oldest"),
        )
        .where(pending)
        .group_by(who, EVENT.c.group_id)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    queued = backlog(session)
    health = dead_letters.applier_health(session)
    return {
        "queued": {
            "batches": queued.batches,
            "messages": queued.messages,
            "oldest_received_at": queued.oldest_received_at,
        },
        "applier": {
            "failing_since": health.failing_since,
            "last_failure_at": health.last_failure_at,
            "failures": health.failures,
            "error": health.error,
            "set_aside": health.set_aside,
        },
        "pending_events": total,
        "oldest_received_at": oldest,
        "by_user": [
            {
                "user": w,
                "group_id": g,
                "events": n,
                "oldest_received_at": o if o is None or o.tzinfo else o.replace(tzinfo=dt.UTC),
            }
            for w, g, n, o in rows
        ],
    }


def attribute_pending_for_account(
    session: Session, *, account_id: int, external_id: str, tz: ZoneInfo, now: dt.datetime
) -> int:
    """Attribute events that named this account before it existed (e.g. it was just created
    through the API or an import); returns how many."""
    usage = _attribute_pending(session, {}, [external_id], {external_id: account_id}, tz)
    add_usage(session, usage, now)
    return len(usage)


def purge_events(session: Session, *, before: dt.datetime, chunk: int = 10_000) -> int:
    """Delete raw events received before ``before`` (rollups stay); returns how many."""
    deleted = 0
    while True:
        ids = (
            session.execute(select(EVENT.c.id).where(EVENT.c.received_at < before).limit(chunk))
            .scalars()
            .all()
        )
        if not ids:
            return deleted
        session.execute(EVENT.delete().where(EVENT.c.id.in_(ids)))
        deleted += len(ids)
