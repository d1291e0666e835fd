"""Usage presence: on which days an account, each of its events and each of its users was active,
kept as 64-day bitmaps so that a window's distinct users, active days and features used cost one
row per user or event instead of one per day.

Layout (table ``usage_presence``): days are numbered from 1970-01-01; block ``b`` is days
``32b … 32b + 31``, and its row holds 64 bits — the block before it and its own — where bit ``i``
is day ``32(b − 1) + i``. Each day therefore sets one bit in two rows (its own block's, upper
half, and the next block's, lower half), and any window of up to 33 days lies inside a single
row: a 30-day window reads exactly one row per user or event, with no DISTINCT. Longer windows
read every other row (each covers 64 days). Bits are stored as signed 64-bit integers, the same
on SQLite and PostgreSQL (bit 63 is the sign bit).

Kinds: ``a`` — the account (``item`` empty): days whose ``usage_account_day.event_count`` > 0;
``e`` — an event name: days whose ``usage_daily.event_count`` > 0; ``u`` — a user key: the days
in ``usage_active_user``. Alongside: ``usage_event_name`` lists every event name with usage, and
``usage_peak_day`` marks the account-days whose pushed ``active_users`` may exceed the users seen
in raw events (the only days a window's busiest day can beat its distinct users).

Kept exact at write time, under retries and concurrency: ingestion sets the bits of whatever
became active (``record_usage``: bitwise OR, so applying it twice changes nothing); pushed daily
aggregates, which replace counts, set or clear them (``replace_events``,
``replace_account_days``). ``rebuild`` recomputes everything from the rollups in set-based SQL
(what migration 0004 runs).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import BigInteger, ColumnElement, Table, and_, case, literal, select, text
from sqlmodel import Session

from app.db import table_of
from app.models import UsageEventName, UsagePeakDay, UsagePresence

BLOCK = 32
_EPOCH = dt.date(1970, 1, 1).toordinal()
_SIGN = 1 << 63
_WORD = 1 << 64
_CHUNK = 500

PRESENCE = table_of(UsagePresence)
PEAK_DAY = table_of(UsagePeakDay)
EVENT_NAME = table_of(UsageEventName)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 (2026-11-23 → 20780)."""
    return day.toordinal() - _EPOCH


def signed(bits: int) -> int:
    """An unsigned 64-bit pattern as the signed integer the database stores."""
    return bits - _WORD if bits >= _SIGN else bits


def unsigned(value: int) -> int:
    return value + _WORD if value < 0 else value


def day_bits(day: dt.date) -> tuple[tuple[int, int], tuple[int, int]]:
    """The two (block, unsigned bit) a day sets: its own block's row and the next one's."""
    n = day_number(day)
    block, offset = divmod(n, BLOCK)
    return (block, 1 << (offset + BLOCK)), (block + 1, 1 << offset)


@dataclass(frozen=True)
class Window:
    """The rows that cover the days ``start … end`` and, for each, the bits inside the window.

    The rows' spans do not overlap, so a count of days adds up over them; an item can still
    appear in several rows, so distinct items need DISTINCT unless ``single``.
    """

    rows: tuple[tuple[int, int], ...]  # (block, unsigned mask), oldest first

    @property
    def single(self) -> bool:
        return len(self.rows) == 1

    @property
    def blocks(self) -> list[int]:
        return [b for b, _ in self.rows]

    def clause(self, table: Table) -> ColumnElement[bool]:
        """Rows of ``table`` (usage_presence) in the window with at least one bit set in it."""
        block, days = table.c.block, table.c.days
        if self.single:
            ((only, mask),) = self.rows
            return and_(block == only, days.op("&")(literal(signed(mask), BigInteger)) != 0)
        mask_of = case(
            *((block == b, literal(signed(m), BigInteger)) for b, m in self.rows),
            else_=literal(0, BigInteger),
        )
        return and_(block.in_(self.blocks), days.op("&")(mask_of) != 0)

    def count_days(self, block: int, days: int) -> int:
        """How many of the window's days are set in one row's bits."""
        for b, mask in self.rows:
            if b == block:
                return (unsigned(days) & mask).bit_count()
        return 0


def window(start: dt.date, end: dt.date) -> Window:
    """The rows covering ``start … end``: the row of the end's block, then every other one back."""
    s, e = day_number(start), day_number(end)
    rows = []
    block = e // BLOCK
    while True:
        first = BLOCK * (block - 1)  # the row's first day
        lo, hi = max(s, first), min(e, first + 2 * BLOCK - 1)
        rows.append((block, ((1 << (hi - lo + 1)) - 1) << (lo - first)))
        if s >= first:
            return Window(tuple(reversed(rows)))
        block -= 2


# -- writing ------------------------------------------------------------------------------------


class _Driver:
    """Statements written for the driver (the ingestion hot path calls these for every batch)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"

    def day(self, value: dt.date) -> Any:
        return value if self.postgres else value.isoformat()

    def insert(self, head: str, rows: Sequence[tuple[Any, ...]], tail: str) -> None:
        if not rows:
            return
        width = len(rows[0])
        if self.postgres:
            # The server's own $n placeholders through a raw cursor: psycopg would rewrite %s
            # with a regular expression on every execution of a statement this long.
            driver = cast("psycopg.Connection[Any]", self.session.connection().connection.driver_connection)
            cursor: Any = psycopg.RawCursor(driver)
        else:
            cursor = self.session.connection().connection.cursor()
        try:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                values = _values(len(chunk), width, self.postgres)
                cursor.execute(f"{head} VALUES {values} {tail}", [v for row in chunk for v in row])
        finally:
            cursor.close()

    def each(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cursor = self.session.connection().connection.cursor()
        try:
            cursor.executemany(sql.replace("?", self.mark), rows)
        finally:
            cursor.close()


@functools.lru_cache(maxsize=64)
def _values(rows: int, width: int, postgres: bool) -> str:
    """``(?, ?), (?, ?)`` (SQLite) or ``($1, $2), ($3, $4)`` (PostgreSQL)."""
    if postgres:
        return ", ".join(
            "(" + ", ".join(f"${r * width + n + 1}" for n in range(width)) + ")" for r in range(rows)
        )
    return ", ".join(["(" + ", ".join(["?"] * width) + ")"] * rows)


Key = tuple[int, str, int, str]  # block, kind, account_id, item


def _set_bits(driver: _Driver, bits: Mapping[Key, int]) -> None:
    # Sorted, so that concurrent transactions lock rows in one order (PostgreSQL).
    driver.insert(
        "INSERT INTO usage_presence (block, kind, account_id, item, days)",
        [(*key, signed(value)) for key, value in sorted(bits.items()) if value],
        "ON CONFLICT (block, kind, account_id, item) DO UPDATE "
        "SET days = usage_presence.days | excluded.days",
    )


def _add_names(driver: _Driver, names: Iterable[str]) -> None:
    driver.insert(
        "INSERT INTO usage_event_name (event)",
        [(n,) for n in sorted(set(names))],
        "ON CONFLICT (event) DO NOTHING",
    )


class _Use(Protocol):
    account_id: int
    day: dt.date
    event: str
    user_key: str


def record_usage(session: Session, usage: Iterable[_Use]) -> None:
    """After raw events were added to the rollups: set the bits their account-days, events and
    users do not have yet (every count they touched is now above zero)."""
    wanted: dict[Key, int] = defaultdict(int)
    for row in usage:
        for block, bit in day_bits(row.day):
            wanted[(block, "a", row.account_id, "")] |= bit
            wanted[(block, "e", row.account_id, row.event)] |= bit
            wanted[(block, "u", row.account_id, row.user_key)] |= bit
    if not wanted:
        return
    # Mostly the bits are there already (a user's second event of the day): read before writing.
    blocks = sorted({k[0] for k in wanted})
    accounts = sorted({k[2] for k in wanted})
    have: dict[Key, int] = {}
    for start in range(0, len(accounts), _CHUNK):
        have.update(
            ((b, k, a, i), unsigned(days))
            for b, k, a, i, days in session.execute(
                select(
                    PRESENCE.c.block, PRESENCE.c.kind, PRESENCE.c.account_id, PRESENCE.c.item, PRESENCE.c.days
                ).where(
                    PRESENCE.c.block.in_(blocks), PRESENCE.c.account_id.in_(accounts[start : start + _CHUNK])
                )
            ).all()
        )
    missing = {key: bits & ~have.get(key, 0) for key, bits in wanted.items()}
    missing = {key: bits for key, bits in missing.items() if bits}
    if missing:
        driver = _Driver(session)
        _set_bits(driver, missing)
        _add_names(driver, {key[3] for key in missing if key[1] == "e"})


def _replace(driver: _Driver, kind: str, active: Mapping[tuple[int, dt.date, str], bool]) -> None:
    """Set the bits of the active keys and clear those of the others."""
    on: dict[Key, int] = defaultdict(int)
    off: dict[Key, int] = defaultdict(int)
    for (account_id, day, item), is_active in active.items():
        for block, bit in day_bits(day):
            (on if is_active else off)[(block, kind, account_id, item)] |= bit
    driver.each(
        "UPDATE usage_presence SET days = days & ? "
        "WHERE block = ? AND kind = ? AND account_id = ? AND item = ?",
        [(signed(~bits & (_WORD - 1)), *key) for key, bits in sorted(off.items())],
    )
    _set_bits(driver, on)


def replace_events(session: Session, counts: Mapping[tuple[int, dt.date, str], int]) -> None:
    """After pushed aggregates replaced these (account, day, event) counts."""
    driver = _Driver(session)
    _replace(driver, "e", {key: n > 0 for key, n in counts.items()})
    _add_names(driver, (e for (_, _, e), n in counts.items() if n > 0))


def replace_account_days(session: Session, days: Mapping[tuple[int, dt.date], tuple[int, int, int]]) -> None:
    """After pushed aggregates recomputed these account-days: (events, active users, users seen
    in raw events) for each."""
    driver = _Driver(session)
    _replace(driver, "a", {(a, d, ""): events > 0 for (a, d), (events, _, _) in days.items()})
    peaks = sorted((a, d) for (a, d), (_, active, seen) in days.items() if active > seen)
    others = sorted((a, d) for (a, d), (_, active, seen) in days.items() if active <= seen)
    driver.insert(
        "INSERT INTO usage_peak_day (account_id, day)",
        [(a, driver.day(d)) for a, d in peaks],
        "ON CONFLICT DO NOTHING",
    )
    driver.each(
        "DELETE FROM usage_peak_day WHERE account_id = ? AND day = ?", [(a, driver.day(d)) for a, d in others]
    )


# -- rebuilding ---------------------------------------------------------------------------------


#: Presence rows from the days of a rollup: each day sets a bit in its block's row and the next.
_BITS = Template(
    "INSERT INTO usage_presence (block, kind, account_id, item, days) "
    "SELECT block, '$kind', account_id, item, $agg(bit) FROM ("
    "SELECT account_id, item, n / 32 AS block, $one << (n % 32 + 32) AS bit "
    "FROM (SELECT account_id, $item AS item, $number AS n FROM $source) d "
    "UNION ALL SELECT account_id, item, n / 32 + 1, $one << (n % 32) "
    "FROM (SELECT account_id, $item AS item, $number AS n FROM $source) d"
    ") b GROUP BY block, account_id, item"
)


def rebuild_statements(dialect: str) -> list[str]:
    """SQL that recomputes usage_presence, usage_event_name and usage_peak_day from the rollups
    (kept in step with migration 0004, which cannot import this module)."""
    if dialect == "postgresql":
        number, one, agg = "(day - DATE '1970-01-01')", "CAST(1 AS BIGINT)", "bit_or"
    else:
        # Each (item, day) sets a distinct bit, so the sum of the bits is their OR.
        number, one, agg = "CAST(julianday(day) - 2440587.5 AS INTEGER)", "1", "sum"

    def bits(kind: str, item: str, source: str) -> str:
        return _BITS.substitute(kind=kind, item=item, source=source, number=number, one=one, agg=agg)

    return [
        "DELETE FROM usage_presence",
        bits("a", "''", "usage_account_day WHERE event_count > 0"),
        bits("e", "event", "usage_daily WHERE event_count > 0"),
        bits("u", "user_key", "usage_active_user"),
        "DELETE FROM usage_event_name",
        "INSERT INTO usage_event_name (event) SELECT DISTINCT event FROM usage_daily",
        "DELETE FROM usage_peak_day",
        "INSERT INTO usage_peak_day (account_id, day) SELECT d.account_id, d.day "
        "FROM usage_account_day d WHERE d.active_users > (SELECT count(*) FROM usage_active_user u "
        "WHERE u.account_id = d.account_id AND u.day = d.day)",
    ]


def rebuild(session: Session) -> None:
    """Recompute all presence data from the rollups."""
    for statement in rebuild_statements(session.get_bind().dialect.name):
        session.execute(text(statement))
