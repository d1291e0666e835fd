"""Synthetic accounts with daily usage rollups, interactions and contacts, bulk-loaded.

Deterministic for a seed, so the SQLite and PostgreSQL runs score the same data. Rows go
straight into the rollup tables that ingestion maintains (``usage_daily``,
``usage_account_day``, ``usage_active_user``) rather than through ``add_usage``: 4.5 million
rows through the ORM would take longer than the benchmark itself; the usage rows are even made
by SQL inside the database. The rollups derived from those tables (presence bitmaps) are then
built by ``app.usage.presence.rebuild``, the same SQL the migration that added them runs.

Per account: 3–20 users, active on 70–100 % of days; an active day has 4–8 distinct events
(≈ 5 per account-day on average, so 10,000 accounts × 90 days ≈ 4.5 M ``usage_daily`` rows)
and 1 to about half of the users active. Interactions cover all six ABC interaction measures
(meetings and calls, NPS, webinars and events, community, training); about 40 % of accounts
have a champion contact; 5 % have no licensed seat count (their activation is missing).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from sqlalchemy.engine import make_url

#: Event names and the catalog that maps them to features (four key features).
EVENTS = (
    "report.created", "report.exported", "dashboard.viewed", "dashboard.shared",
    "alert.created", "alert.acknowledged", "integration.synced", "user.invited",
    "comment.added", "file.uploaded", "search.performed", "settings.changed",
)
FEATURES = (
    # key, name, patterns, is_key
    ("reports", "Reports", ["report.*"], True),
    ("dashboards", "Dashboards", ["dashboard.viewed", "dashboard.shared"], True),
    ("alerts", "Alerts", ["alert.*"], True),
    ("integrations", "Integrations", ["integration.*"], True),
    ("collaboration", "Collaboration", ["comment.added", "user.invited"], False),
)
#: Event name → key feature, for baselines that cannot run the catalog's matcher.
KEY_FEATURE_OF = {
    "report.created": "reports", "report.exported": "reports",
    "dashboard.viewed": "dashboards", "dashboard.shared": "dashboards",
    "alert.created": "alerts", "alert.acknowledged": "alerts",
    "integration.synced": "integrations",
}

#: Columns written for each table, in order.
COLUMNS = {
    "account": ("id", "external_id", "name", "industry", "segment", "plan", "licensed_seats",
                "arr", "currency", "contract_start_on", "renewal_on", "status", "churned_on",
                "owner_id", "traits", "created_at", "updated_at"),
    "contact": ("id", "account_id", "external_id", "email", "name", "title", "is_champion",
                "is_decision_maker", "is_star_user", "status", "traits", "created_at",
                "updated_at"),
    "interaction": ("id", "account_id", "type", "occurred_at", "author", "data", "created_at"),
    "usage_daily": ("account_id", "day", "event", "event_count", "distinct_users"),
    "usage_account_day": ("account_id", "day", "active_users", "event_count"),
    "usage_active_user": ("account_id", "day", "user_key"),
}


@dataclass(frozen=True)
class Shape:
    accounts: int
    days: int
    as_of: dt.date
    seed: int = 7


@dataclass
class Counts:
    rows: dict[str, int]

    def __str__(self) -> str:
        return ", ".join(f"{table} {n:,}" for table, n in self.rows.items())


def _ts(value: dt.datetime) -> str:
    """A UTC timestamp as SQLAlchemy stores it on SQLite (and PostgreSQL parses)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(shape: Shape) -> Iterator[tuple[str, list[tuple[object, ...]]]]:
    """Accounts, contacts and interactions as (table, rows); usage is made by ``USAGE_SQL``."""
    rng = random.Random(shape.seed)
    now = dt.datetime.combine(shape.as_of, dt.time(12), tzinfo=dt.UTC)
    created = _ts(now - dt.timedelta(days=400))

    accounts: list[tuple[object, ...]] = []
    for i in range(1, shape.accounts + 1):
        seats = None if rng.random() < 0.05 else rng.randint(5, 40)
        start = shape.as_of - dt.timedelta(days=rng.randint(120, 1500))
        accounts.append((
            i, f"acct-{i:06d}", f"Account {i}", "software", "smb", "standard", seats,
            f"{rng.randint(10, 500) * 10000}.00", "JPY", start.isoformat(),
            (start + dt.timedelta(days=365 * ((shape.as_of - start).days // 365 + 1))).isoformat(),
            "active", None, None, "{}", created, created,
        ))
    yield "account", accounts

    contacts: list[tuple[object, ...]] = []
    interactions: list[tuple[object, ...]] = []
    contact_id = interaction_id = 0

    def interaction(account: int, kind: str, days_ago_max: int, data: dict[str, object]) -> None:
        nonlocal interaction_id
        interaction_id += 1
        at = now - dt.timedelta(days=rng.randint(0, days_ago_max), minutes=rng.randint(0, 1439))
        interactions.append((interaction_id, account, kind, _ts(at), "system",
                             orjson.dumps(data).decode(), _ts(at)))

    for i in range(1, shape.accounts + 1):
        champion = rng.random() < 0.4
        for c in range(rng.randint(1, 4)):
            contact_id += 1
            contacts.append((
                contact_id, i, f"c{contact_id}", f"c{contact_id}@example.com", f"Contact {c}",
                None, champion and c == 0, c == 1, rng.random() < 0.2, "active", "{}", created,
                created,
            ))
        for _ in range(rng.randint(0, 6)):
            interaction(i, rng.choice(("meeting", "call")), 200, {})
        for _ in range(rng.randint(0, 2)):
            interaction(i, "nps_response", 420, {"score": rng.randint(0, 10)})
        for _ in range(rng.randint(0, 4)):
            interaction(i, rng.choice(("webinar", "event")), 120, {})
        for _ in range(rng.randint(0, 5)):
            interaction(i, rng.choice(("community", "community_post")), 120, {})
        for _ in range(rng.randint(0, 3)):
            interaction(i, rng.choice(("training", "certification")), 240, {})
        for _ in range(rng.randint(0, 3)):
            interaction(i, "support_ticket", 120, {})
    yield "contact", contacts
    yield "interaction", interactions



def _helper_rows(shape: Shape) -> dict[str, list[tuple[object, ...]]]:
    """Small tables the usage SQL joins: per-account shape, the days, user and event numbers."""
    rng = random.Random(shape.seed + 1)
    accounts: list[tuple[object, ...]] = []
    for i in range(1, shape.accounts + 1):
        users = rng.randint(3, 20)
        accounts.append((i, users, rng.randint(70, 100), max(1, users // 2)))
    first_day = shape.as_of - dt.timedelta(days=shape.days - 1)
    return {
        "bench_acct": accounts,
        "bench_day": [(d, first_day + dt.timedelta(days=d)) for d in range(shape.days)],
        "bench_num": [(j,) for j in range(20)],
        # Numbered in name order, so usage_daily rows come out in primary-key order.
        "bench_event": list(enumerate(sorted(EVENTS))),
    }


HELPERS = (
    "CREATE TEMP TABLE bench_acct (id INTEGER PRIMARY KEY, n_users INTEGER NOT NULL, "
    "p_active INTEGER NOT NULL, most_active INTEGER NOT NULL)",
    "CREATE TEMP TABLE bench_day (d INTEGER PRIMARY KEY, day DATE NOT NULL)",
    "CREATE TEMP TABLE bench_num (j INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE bench_event (e INTEGER PRIMARY KEY, event VARCHAR(255) NOT NULL)",
    "CREATE TEMP TABLE bench_ad (account_id INTEGER NOT NULL, d INTEGER NOT NULL, "
    "day DATE NOT NULL, n_users INTEGER NOT NULL, k INTEGER NOT NULL, first INTEGER NOT NULL, "
    "PRIMARY KEY (account_id, d))",
)


def _h(x: str) -> str:
    """A deterministic pseudo-random integer in [0, 2^31) from an integer expression: the same
    on SQLite and PostgreSQL (every product stays far below 2^63)."""
    return f"(((({x}) % 1000003) * 48271 % 2147483647) * 48271 % 2147483647)"


_AD = "CAST(a.id AS BIGINT) * 7919 + dd.d * 104729"
_X = "CAST(ad.account_id AS BIGINT) * 7919 + ad.d * 104729"

#: Usage generated inside the database (a Python loop over 9 M rows takes minutes): an account
#: is active on a day with its own probability, by k of its users (a run of them, starting at a
#: random one); each event happened that day with a chance (one of them surely), done by 1 to k
#: of those users, 1–4 times each. Rows are produced in primary-key order.
USAGE_SQL = (
    f"""INSERT INTO bench_ad (account_id, d, day, n_users, k, first)
    SELECT a.id, dd.d, dd.day, a.n_users, 1 + {_h(_AD + ' + 37')} % a.most_active,
           {_h(_AD + ' + 53')} % a.n_users
    FROM bench_acct a JOIN bench_day dd ON {_h(_AD + ' + 11')} % 100 < a.p_active""",
    """INSERT INTO usage_active_user (account_id, day, user_key)
    SELECT ad.account_id, ad.day, 'u' || ad.account_id || '-' || n.j
    FROM bench_ad ad JOIN bench_num n
      ON n.j < ad.n_users AND (n.j - ad.first + ad.n_users) % ad.n_users < ad.k
    ORDER BY 1, 2, 3""",
    f"""INSERT INTO usage_daily (account_id, day, event, event_count, distinct_users)
    SELECT ad.account_id, ad.day, ev.event,
           (1 + {_h(_X + ' + ev.e * 1299709 + 41')} % ad.k)
             * (1 + {_h(_X + ' + ev.e * 1299709 + 43')} % 4),
           1 + {_h(_X + ' + ev.e * 1299709 + 41')} % ad.k
    FROM bench_ad ad JOIN bench_event ev ON (
        {_h(_X + ' + ev.e * 1299709 + 29')} % 12 < 3 + {_h(_X + ' + 31')} % 5
        OR ev.e = {_h(_X + ' + 47')} % 12)""",
    """INSERT INTO usage_account_day (account_id, day, active_users, event_count)
    SELECT ad.account_id, ad.day, ad.k, sum(u.event_count)
    FROM bench_ad ad JOIN usage_daily u ON u.account_id = ad.account_id AND u.day = ad.day
    GROUP BY ad.account_id, ad.day, ad.k""",
)


def load(database_url: str, shape: Shape) -> Counts:
    """Bulk-insert the generated rows into a freshly migrated database."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return _load_sqlite(database_url, shape)
    return _load_postgres(database_url, shape)


def _insert_sql(table: str, placeholder: str) -> str:
    columns = COLUMNS.get(table)
    names = f" ({', '.join(columns)})" if columns else ""
    width = len(columns) if columns else 0
    return f'INSERT INTO "{table}"{names} VALUES ({", ".join(placeholder for _ in range(width))})'


def _load_sqlite(database_url: str, shape: Shape) -> Counts:
    import sqlite3

    path = make_url(database_url).database or ""
    conn = sqlite3.connect(path, isolation_level=None)
    # Only this loading connection trades durability for speed; the app's engine keeps its own
    # settings (WAL, synchronous=FULL).
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1048576")
    conn.execute("PRAGMA temp_store=MEMORY")
    counts: dict[str, int] = {}
    conn.execute("BEGIN")
    for table, rows in generate(shape):
        conn.executemany(_insert_sql(table, "?"), rows)
        counts[table] = len(rows)
    for statement in HELPERS:
        conn.execute(statement)
    for table, rows in _helper_rows(shape).items():
        width = len(rows[0])
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})",
                         [tuple(v.isoformat() if isinstance(v, dt.date) else v for v in r)
                          for r in rows])
    for statement in USAGE_SQL:
        conn.execute(statement)
    conn.execute("COMMIT")
    for table in ("usage_daily", "usage_account_day", "usage_active_user"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    conn.execute("ANALYZE")
    conn.close()
    return Counts(counts)


def _load_postgres(database_url: str, shape: Shape) -> Counts:
    import psycopg

    url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for table, rows in generate(shape):
                columns = COLUMNS[table]
                with cur.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
                counts[table] = len(rows)
            for table in ("account", "contact", "interaction"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT max(id) FROM "{table}"))'
                )
            for statement in HELPERS:
                cur.execute(statement)
            for table, rows in _helper_rows(shape).items():
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for statement in USAGE_SQL:
                cur.execute(statement)
            for table in ("usage_daily", "usage_account_day", "usage_active_user"):
                cur.execute(f"SELECT count(*) FROM {table}")
                counts[table] = cur.fetchone()[0]  # type: ignore[index]
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return Counts(counts)
