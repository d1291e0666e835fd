"""Benchmark: the weekly action list for 10,000 accounts (goal: under 5 s on this machine).

    python -m bench.priorities [--accounts 10000] [--database-url postgresql+psycopg://...]

Loads the scoring benchmark's synthetic accounts (usage rollups, contacts, interactions), adds
CSMs, scheduled meetings and outreach, scores them with the ABC preset, then times:

* **list** — ``priorities.compute``: facts as of Monday 00:00 for every account (set-based SQL),
  stages, signals, priority points and ranking, in memory;
* **list + store** — ``priorities.weekly_list`` on a week not yet stored (what the first request
  of a week, or the scheduler, pays);
* **baseline** — plain SQL that only *reads* the rows the facts come from (the same windows of
  interactions, daily usage, presence, snapshots, contacts), with no processing: the floor of any
  design that reads the data, measured in the same run.

Prints seconds, accounts/s, peak RSS and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import Session

from app import migrations
from app.db import make_engine
from app.health import models as health_models
from app.health import snapshots as health_snapshots
from app.priorities import service as priorities
from app.usage import features as features_svc
from app.usage import presence
from bench.score import database
from bench.usage_data import FEATURES, Shape, load

TZ = ZoneInfo("Asia/Tokyo")
MONDAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
WEEK = "2026-W48"
CSMS = 25


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(url: str, accounts: int) -> None:
    started = time.perf_counter()
    migrations.upgrade(url)
    counts = load(url, Shape(accounts=accounts, days=90, as_of=MONDAY - dt.timedelta(days=1)))
    print(f"  rows: {counts}", flush=True)
    engine = make_engine(url)
    rng = random.Random(11)
    with Session(engine) as session:
        presence.rebuild(session)
        for key, name, patterns, is_key in FEATURES:
            features_svc.create_feature(
                session,
                now=NOW,
                feature_in=features_svc.FeatureIn(key=key, name=name, patterns=patterns, is_key=is_key),
            )
        health_models.adopt_preset(session, preset="abc", now=NOW)
        for i in range(1, CSMS + 1):
            session.execute(
                text(
                    'INSERT INTO "user" (id, email, name, role, password_hash, locale, is_active, '
                    "created_at, updated_at) VALUES (:id, :email, :name, 'csm', 'x', 'ja', :t, :now, :now)"
                ),
                {"id": i, "email": f"csm{i}@example.com", "name": f"CSM {i}", "t": True, "now": NOW},
            )
        session.execute(text(f"UPDATE account SET owner_id = 1 + (id % {CSMS})"))
        industries = ("software", "manufacturing", "retail", "finance", "healthcare")
        session.execute(
            text(
                "UPDATE account SET industry = CASE id % 5 "
                + " ".join(f"WHEN {n} THEN '{name}'" for n, name in enumerate(industries))
                + " END"
            )
        )
        rows = []
        next_id = 10_000_000
        for account in range(1, accounts + 1):
            if rng.random() < 0.15:  # a meeting booked in the next weeks
                next_id += 1
                when = NOW + dt.timedelta(days=rng.randint(1, 30))
                rows.append(
                    {
                        "id": next_id,
                        "a": account,
                        "type": "meeting_scheduled",
                        "at": NOW - dt.timedelta(days=rng.randint(2, 20)),
                        "data": f'{{"scheduled_for": "{when.isoformat()}"}}',
                    }
                )
            if rng.random() < 0.3:  # our outreach, maybe unanswered
                next_id += 1
                rows.append(
                    {
                        "id": next_id,
                        "a": account,
                        "type": "email_sent",
                        "at": NOW - dt.timedelta(days=rng.randint(2, 50)),
                        "data": "{}",
                    }
                )
        session.execute(
            text(
                "INSERT INTO interaction (id, account_id, type, occurred_at, author, data, created_at) "
                "VALUES (:id, :a, :type, :at, 'system', :data, :at)"
            ),
            rows,
        )
        health_snapshots.run_scoring(session, as_of=MONDAY - dt.timedelta(days=1), tz=TZ, now=NOW)
        session.commit()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    print(f"  prepared in {time.perf_counter() - started:.1f} s", flush=True)


BASELINE = (
    "SELECT account_id, type, occurred_at, data FROM interaction WHERE occurred_at < :at "
    "AND occurred_at >= :since",
    "SELECT account_id, day, event_count FROM usage_account_day WHERE day >= :d70 AND day < :day",
    "SELECT account_id, item, block, days FROM usage_presence WHERE kind = 'u' AND block = :block",
    "SELECT account_id, day, score, band FROM score_snapshot WHERE day >= :d30",
    "SELECT account_id, external_id, email, is_champion, is_star_user, status FROM contact",
    "SELECT id, owner_id, industry, contract_start_on, renewal_on FROM account WHERE status = 'active'",
)


def baseline(url: str) -> float:
    engine = make_engine(url)
    at = dt.datetime.combine(MONDAY, dt.time(), tzinfo=TZ).astimezone(dt.UTC)
    params = {
        "at": at,
        "since": at - dt.timedelta(days=400),
        "d70": MONDAY - dt.timedelta(days=70),
        "day": MONDAY,
        "block": presence.day_number(MONDAY - dt.timedelta(days=1)) // presence.BLOCK,
        "d30": MONDAY - dt.timedelta(days=30),
    }
    started = time.perf_counter()
    with engine.connect() as conn:
        for sql in BASELINE:
            conn.execute(text(sql), params).all()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def ours(url: str) -> tuple[float, float, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        started = time.perf_counter()
        computed = priorities.compute(session, week=WEEK, tz=TZ)
        list_time = time.perf_counter() - started
    with Session(engine) as session:
        started = time.perf_counter()
        priorities.weekly_list(session, week=WEEK, tz=TZ, now=NOW)
        session.commit()
        store_time = time.perf_counter() - started
    engine.dispose()
    return list_time, store_time, len(computed.ranked)


def _forget_week(url: str) -> None:
    """Drops a stored list of the benchmark's week (a kept database may hold one)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM priority_list WHERE week = :w"), {"w": WEEK})
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite: keep the prepared database in this directory and reuse it")
    args = parser.parse_args()
    with database(args.database_url, f"priorities{args.accounts}", args.keep) as (url, reused):
        engine_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(f"weekly list benchmark: {args.accounts:,} accounts on {engine_name}", flush=True)
        if not reused:
            prepare(url, args.accounts)
        _forget_week(url)
        base = min(baseline(url) for _ in range(3))
        list_time, store_time, n = ours(url)
        print(f"  baseline (read the inputs only): {base:.2f} s")
        print(
            f"  weekly list, computed:           {list_time:.2f} s  ({n / list_time:,.0f} accounts/s)"
            f"  ratio {list_time / base:.1f}× baseline"
        )
        print(
            f"  weekly list, computed + stored:  {store_time:.2f} s  ({n / store_time:,.0f} accounts/s)"
            f"  ratio {store_time / base:.1f}× baseline"
        )
        print(f"  peak RSS: {peak_rss_mb():.0f} MiB")
        print(f"  goal (< 5 s for 10,000 accounts): {'met' if store_time < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
