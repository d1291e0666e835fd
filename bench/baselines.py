"""The benchmark's baselines: the nine ABC measure values computed the naive way.

One plain ``GROUP BY`` query per measure over the rows in its window, written once and run on
three engines: the application's database (SQLite or PostgreSQL, the same tables Bansō reads)
and DuckDB over the same rows exported to Parquet. Each returns ``{account_id: {key: value}}``
with the values ``app.health.values`` must produce, so the benchmark also checks that
the optimised code computes exactly what the naive queries do.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.usage_data import KEY_FEATURE_OF

Rows = Sequence[Sequence[Any]]
Pairs = dict[Any, Any]
Query = Callable[[str], Rows]
Values = dict[int, dict[str, float | None]]

KEYS = ("seat_activation", "active_days", "key_features", "last_meeting", "champion", "nps",
        "webinars", "community", "training")


@dataclass(frozen=True)
class Dialect:
    name: str  # sqlite | postgresql | duckdb

    def day(self, value: dt.date) -> str:
        return f"DATE '{value.isoformat()}'" if self.name != "sqlite" else f"'{value.isoformat()}'"

    def instant(self, value: dt.datetime) -> str:
        utc = value.astimezone(dt.UTC)
        if self.name == "sqlite":  # stored as naive UTC text
            return f"'{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
        if self.name == "postgresql":
            return f"TIMESTAMPTZ '{utc.isoformat()}'"
        return f"TIMESTAMP '{utc.replace(tzinfo=None).isoformat()}'"  # exported as naive UTC

    def score(self) -> str:
        """The NPS score inside an interaction's JSON data."""
        if self.name == "sqlite":
            return "json_extract(data, '$.score')"
        if self.name == "postgresql":
            return "CAST(data ->> 'score' AS DOUBLE PRECISION)"
        return "score"  # extracted on export

    def is_true(self, column: str) -> str:
        return column if self.name == "postgresql" else f"{column} = 1"


def nine_measures(query: Query, dialect: Dialect, *, as_of: dt.date, tz: ZoneInfo) -> Values:
    """The ABC preset's nine values for every active account, one GROUP BY per measure."""
    d = dialect

    def window(days: int) -> str:
        return f"BETWEEN {d.day(as_of - dt.timedelta(days=days - 1))} AND {d.day(as_of)}"

    def instant(day: dt.date) -> str:
        return d.instant(dt.datetime.combine(day, dt.time(), tzinfo=tz))

    end = instant(as_of + dt.timedelta(days=1))

    def since(days: int) -> str:
        return instant(as_of - dt.timedelta(days=days - 1))

    accounts = _pairs(query, "SELECT id, licensed_seats FROM account WHERE status = 'active'")
    out: Values = {a: dict.fromkeys(KEYS) for a in accounts}

    distinct = _pairs(query, (
        f"SELECT account_id, count(DISTINCT user_key) FROM usage_active_user "
        f"WHERE day {window(30)} GROUP BY account_id"))
    peak = _pairs(query, (
        f"SELECT account_id, max(active_users) FROM usage_account_day "
        f"WHERE day {window(30)} GROUP BY account_id"))
    active_days = _pairs(query, (
        f"SELECT account_id, count(*) FROM usage_account_day "
        f"WHERE day {window(30)} AND event_count > 0 GROUP BY account_id"))
    feature = " ".join(f"WHEN '{e}' THEN '{f}'" for e, f in sorted(KEY_FEATURE_OF.items()))
    names = ", ".join(f"'{e}'" for e in sorted(KEY_FEATURE_OF))
    key_features = _pairs(query, (
        f"SELECT account_id, count(DISTINCT CASE event {feature} END) FROM usage_daily "
        f"WHERE day {window(30)} AND event IN ({names}) AND event_count > 0 "
        f"GROUP BY account_id"))
    last_meeting = _pairs(query, (
        f"SELECT account_id, max(occurred_at) FROM interaction "
        f"WHERE type IN ('meeting', 'call') AND occurred_at < {end} GROUP BY account_id"))
    champion = _pairs(query, (
        f"SELECT account_id, max(CASE WHEN {d.is_true('is_champion')} THEN 1 ELSE 0 END) "
        f"FROM contact WHERE status = 'active' GROUP BY account_id"))
    nps = _pairs(query, (
        f"SELECT account_id, score FROM ("
        f"SELECT account_id, {d.score()} AS score, row_number() OVER ("
        f"PARTITION BY account_id ORDER BY occurred_at DESC, id DESC) AS rn FROM interaction "
        f"WHERE type = 'nps_response' AND occurred_at >= {since(365)} AND occurred_at < {end} "
        f"AND {d.score()} IS NOT NULL) latest WHERE rn = 1"))
    counts: dict[str, Pairs] = {}
    for key, types, days in (("webinars", "'webinar', 'event'", 90),
                             ("community", "'community', 'community_post'", 90),
                             ("training", "'training', 'certification'", 180)):
        counts[key] = _pairs(query, (
            f"SELECT account_id, count(*) FROM interaction WHERE type IN ({types}) "
            f"AND occurred_at >= {since(days)} AND occurred_at < {end} GROUP BY account_id"))

    for a, seats in accounts.items():
        v = out[a]
        users = max(distinct.get(a, 0), peak.get(a, 0))
        v["seat_activation"] = round(users / seats, 6) if seats else None
        v["active_days"] = float(active_days.get(a, 0))
        v["key_features"] = float(key_features.get(a, 0))
        last = last_meeting.get(a)
        if last is not None:
            v["last_meeting"] = float((as_of - _local_day(last, tz)).days)
        v["champion"] = 1.0 if champion.get(a, 0) else 0.0
        score = nps.get(a)
        v["nps"] = float(score) if score is not None else None
        for key in ("webinars", "community", "training"):
            v[key] = float(counts[key].get(a, 0))
    return out


def _pairs(query: Query, sql: str) -> Pairs:
    return {row[0]: row[1] for row in query(sql)}


def _local_day(value: Any, tz: ZoneInfo) -> dt.date:
    if isinstance(value, str):  # SQLite text
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).date()


def plain_group_by(query: Query) -> int:
    """The issue's yardstick: one GROUP BY over every daily rollup row."""
    return len(query("SELECT account_id, sum(event_count), count(*) FROM usage_daily "
                     "GROUP BY account_id"))


def differences(ours: Values, theirs: Values, *, limit: int = 5) -> list[str]:
    """Where two sets of values disagree (floats compared to 1e-9)."""
    found = []
    for a in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(a, {}), theirs.get(a, {})
        for key in KEYS:
            x, y = mine.get(key), other.get(key)
            same = (x is None and y is None) or (
                x is not None and y is not None and math.isclose(x, y, abs_tol=1e-9))
            if not same:
                found.append(f"account {a} {key}: ours {x!r}, baseline {y!r}")
                if len(found) >= limit:
                    return found
    return found


# -- export for DuckDB --------------------------------------------------------------------------

#: What DuckDB reads: the columns the nine measures need, from each table.
EXPORTS = {
    "account": ("SELECT id, licensed_seats, status FROM account",
                "id BIGINT, licensed_seats BIGINT, status VARCHAR"),
    "contact": ("SELECT account_id, CASE WHEN is_champion THEN 1 ELSE 0 END, status FROM contact",
                "account_id BIGINT, is_champion INTEGER, status VARCHAR"),
    "usage_daily": ("SELECT account_id, day, event, event_count FROM usage_daily",
                    "account_id BIGINT, day DATE, event VARCHAR, event_count BIGINT"),
    "usage_account_day": ("SELECT account_id, day, active_users, event_count FROM usage_account_day",
                          "account_id BIGINT, day DATE, active_users BIGINT, event_count BIGINT"),
    "usage_active_user": ("SELECT account_id, day, user_key FROM usage_active_user",
                          "account_id BIGINT, day DATE, user_key VARCHAR"),
}
INTERACTION_EXPORT = {
    "sqlite": "SELECT id, account_id, type, occurred_at, json_extract(data, '$.score') "
              "FROM interaction",
    "postgresql": "SELECT id, account_id, type, "
                  "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
                  "data ->> 'score' FROM interaction",
}
INTERACTION_COLUMNS = "id BIGINT, account_id BIGINT, type VARCHAR, occurred_at TIMESTAMP, score DOUBLE"


def export_parquet(
    write_csv: Callable[[str, Path], None], dialect: str, directory: Path
) -> dict[str, Path]:
    """Each table's rows as CSV (``write_csv(sql, path)`` streams them from the database), then
    as Parquet for DuckDB."""
    import duckdb

    directory.mkdir(parents=True, exist_ok=True)
    jobs = [(t, sql, cols) for t, (sql, cols) in EXPORTS.items()]
    jobs.append(("interaction", INTERACTION_EXPORT[dialect], INTERACTION_COLUMNS))
    out = {}
    con = duckdb.connect()
    for table, sql, columns in jobs:
        csv_path = directory / f"{table}.csv"
        write_csv(sql, csv_path)
        parquet = directory / f"{table}.parquet"
        spec = ", ".join(f"'{c.split()[0]}': '{c.split()[1]}'" for c in columns.split(", "))
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', header = false, columns = {{{spec}}}, "
            f"nullstr = '')) TO '{parquet}' (FORMAT parquet)"
        )
        csv_path.unlink()
        out[table] = parquet
    con.close()
    return out


def sqlite_csv(conn: Any) -> Callable[[str, Path], None]:
    """A CSV writer over a sqlite3 connection."""

    def write(sql: str, path: Path) -> None:
        cursor = conn.execute(sql)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            while rows := cursor.fetchmany(50_000):
                writer.writerows(rows)

    return write


def postgres_csv(conn: Any) -> Callable[[str, Path], None]:
    """A CSV writer over a psycopg connection (COPY ... TO STDOUT)."""

    def write(sql: str, path: Path) -> None:
        with path.open("wb") as fh, conn.cursor() as cur, \
                cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for data in copy:
                fh.write(data)

    return write


def duckdb_query(files: dict[str, Path]) -> tuple[Any, Query]:
    """A DuckDB connection with one view per exported table, and a query function over it."""
    import duckdb

    con = duckdb.connect()
    for table, path in files.items():
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")

    def run(sql: str) -> Rows:
        rows: Rows = con.execute(sql).fetchall()
        return rows

    return con, run
