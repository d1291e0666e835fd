"""Benchmark: a full recompute of the ABC health model for every account, against baselines.

    .venv/bin/python bench/score.py                       # SQLite, 10,000 then 20,000 accounts
    scripts/with-postgres sh -c '.venv/bin/python bench/score.py \
        --database-url "$BANSOU_TEST_DATABASE_URL"'        # PostgreSQL (databases made beside it)
    .venv/bin/python bench/score.py --keep DIR            # keep the data, reuse it next time

For each size: a freshly migrated database gets N accounts × D days of rollups (bench/usage_data.py:
≈ 5 events per account-day), the feature catalog and the ABC preset. Then, in the same run:

* ours — what ``run_scoring`` does for one model: ``score_accounts`` (load accounts, compute the
  nine measure values in SQL, grade them) and ``write_snapshots`` (10,000 rows: score, band and
  the nine values; explanations are rebuilt when read), committed; in a separate process, so
  that its peak RSS is its own;
* plain GROUP BY — the naive way on the same database: one GROUP BY per measure over every row
  in its window (bench/baselines.py), plus the issue's yardstick, one GROUP BY over all
  ``usage_daily`` rows;
* DuckDB — the same nine queries over the same rows exported to Parquet.

Values from all three are compared account by account. Each timing is the best of ``--repeat``
runs (the machine is shared; the median is printed too). Then a single-account rescore after an
ingest: ``add_usage`` for one account, then ``run_scoring(account_ids=[it])``; and reading one
account's current score with its explanation (``current_health``, what ``GET .../health``
serves: the explanation rebuilt from the stored values, with the week's and month's changes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import migrations
from app.db import make_engine
from app.health import models as health_models
from app.health import reading as health_reading
from app.health import scores as health_scores
from app.health import snapshots as health_snapshots
from app.health.values import compute_values, load_accounts
from app.ingest.rollups import UsageRow, add_usage
from app.usage import features as features_svc
from app.usage import presence
from bench import baselines
from bench.usage_data import FEATURES, Shape, load

AS_OF = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 23:00 in Tokyo: the day's last run
TZ = ZoneInfo("Asia/Tokyo")


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(times: list[float]) -> tuple[float, float]:
    return min(times), statistics.median(times)


# -- databases ----------------------------------------------------------------------------------


@contextmanager
def database(base_url: str | None, name: str, keep: Path | None) -> Iterator[tuple[str, bool]]:
    """A database for one size and whether it was kept from an earlier run (already prepared):
    a SQLite file, or a database on the given PostgreSQL server. Without ``keep`` it is made
    empty and removed afterwards."""
    if base_url is None or make_url(base_url).get_backend_name() == "sqlite":
        directory = keep or Path(tempfile.mkdtemp(prefix="bansou-bench-"))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.db"
        reused = keep is not None and path.exists()
        if not reused:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        try:
            yield f"sqlite:///{path}", reused
        finally:
            if keep is None:
                shutil.rmtree(directory, ignore_errors=True)
        return
    url = make_url(base_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    db = f"{url.database}_{name}"
    target = url.set(database=db).render_as_string(hide_password=False)
    with admin.connect() as conn:
        reused = keep is not None and conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :db"), {"db": db}
        ).first() is not None
        if reused:
            engine = create_engine(target)
            with engine.connect() as kept:  # prepared to the end: the preset was adopted
                reused = kept.execute(text(
                    "SELECT 1 FROM information_schema.tables WHERE table_name = 'health_model'"
                )).first() is not None and kept.execute(
                    text("SELECT 1 FROM health_model")).first() is not None
            engine.dispose()
        if not reused:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield target, reused
    finally:
        if keep is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str, shape: Shape) -> dict[str, float]:
    """Migrate, load the rows, derive the presence rollups, adopt the ABC preset."""
    timings = {}
    started = time.perf_counter()
    migrations.upgrade(url)
    timings["migrate"] = time.perf_counter() - started
    started = time.perf_counter()
    counts = load(url, shape)
    timings["load"] = time.perf_counter() - started
    print(f"  rows: {counts}", flush=True)
    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        presence.rebuild(session)
        for key, name, patterns, is_key in FEATURES:
            features_svc.create_feature(session, now=NOW, feature_in=features_svc.FeatureIn(
                key=key, name=name, patterns=patterns, is_key=is_key))
        health_models.adopt_preset(session, preset="abc", now=NOW)
        session.commit()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    timings["presence"] = time.perf_counter() - started
    return timings


# -- ours (run in a child process: --worker) ----------------------------------------------------


def worker(url: str, repeat: int, rescore_accounts: list[int]) -> dict[str, Any]:
    """Time full recomputes and single-account rescores; report values for the comparison."""
    engine = make_engine(url)
    runs: dict[str, list[float]] = {"total": [], "accounts": [], "values": [], "grade": [],
                                    "write": []}
    values_out: dict[int, dict[str, float | None]] = {}
    with Session(engine) as session:
        model = health_models.default_model(session)
        scored_count = 0
        assert model is not None and model.id is not None
        version = health_models.published_version(session, model.id)
        assert version is not None and version.id is not None
        spec = health_models.parse_definition(version.definition)
        for _ in range(repeat):
            started = time.perf_counter()
            accounts = load_accounts(session, as_of=AS_OF)
            loaded = time.perf_counter()
            values = compute_values(session, spec, accounts=accounts, as_of=AS_OF, tz=TZ)
            computed = time.perf_counter()
            scored = health_scores.score_values(spec, values, as_of=AS_OF)
            graded = time.perf_counter()
            health_snapshots.write_snapshots(session, version_id=version.id, day=AS_OF, scored=scored,
                                             now=NOW)
            session.commit()
            written = time.perf_counter()
            for key, value in (("accounts", loaded - started), ("values", computed - loaded),
                               ("grade", graded - computed), ("write", written - graded),
                               ("total", written - started)):
                runs[key].append(value)
        if repeat:
            values_out = {a: {k: v.value for k, v in inputs.items()}
                          for a, inputs in values.inputs.items()}
            scored_count = len(scored)
    rss = peak_rss_mb()

    rescores: list[float] = []
    # The first rescore pays for the connection and SQLAlchemy's statement caches, which a
    # running server has warm: it is not counted.
    for n, account_id in enumerate(rescore_accounts):
        with Session(engine) as session:
            at = dt.datetime.combine(AS_OF, dt.time(5), tzinfo=dt.UTC)
            add_usage(session, [UsageRow(account_id, AS_OF, event, f"u{account_id}-new", at)
                                for event in ("report.created", "alert.created", "login")], NOW)
            session.commit()
            started = time.perf_counter()
            health_snapshots.run_scoring(session, as_of=AS_OF, tz=TZ, now=NOW, account_ids=[account_id])
            session.commit()
            if n:
                rescores.append(time.perf_counter() - started)
    reads: list[float] = []
    for n, account_id in enumerate(rescore_accounts):
        with Session(engine) as session:
            external_id = session.execute(
                text("SELECT external_id FROM account WHERE id = :id"), {"id": account_id}
            ).scalar_one()
            started = time.perf_counter()
            current = health_reading.current_health(session, account_id=external_id, model_id=None,
                                                    today=AS_OF, tz=TZ)
            if n:
                reads.append(time.perf_counter() - started)
            assert not current.live and current.score == round(
                sum(m["contribution"] for g in current.groups for m in g["measures"]), 2)
    engine.dispose()
    return {"runs": runs, "scored": scored_count, "peak_rss_mb": rss, "rescores": rescores,
            "reads": reads,
            "values": {str(a): v for a, v in values_out.items()}}


def run_worker(url: str, repeat: int, rescore_accounts: list[int]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", url, "--repeat", str(repeat),
         "--rescore", ",".join(map(str, rescore_accounts))],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- baselines ----------------------------------------------------------------------------------


def raw_connection(url: str) -> tuple[Any, str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        return sqlite3.connect(parsed.database or ""), "sqlite"
    import psycopg

    return psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False)), "postgresql"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def run_size(args: argparse.Namespace, accounts: int) -> dict[str, Any]:
    shape = Shape(accounts=accounts, days=args.days, as_of=AS_OF)
    keep = Path(args.keep) if args.keep else None
    print(f"\n== {accounts:,} accounts × {args.days} days", flush=True)
    with database(args.database_url, f"bench_{accounts}_{args.days}", keep) as (url, reused):
        if reused:
            print("  reusing the database kept from an earlier run", flush=True)
        else:
            prep = prepare(url, shape)
            print("  setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in prep.items()), flush=True)
        ours = run_worker(url, args.repeat, [])

        conn, dialect = raw_connection(url)

        def query(sql: str) -> Any:
            cursor = conn.execute(sql)
            return cursor.fetchall()

        naive_times, naive = timed(
            lambda: baselines.nine_measures(query, baselines.Dialect(dialect), as_of=AS_OF, tz=TZ),
            args.repeat)
        scan_times, _ = timed(lambda: baselines.plain_group_by(query), args.repeat)
        with tempfile.TemporaryDirectory(prefix="bansou-parquet-") as tmp:
            started = time.perf_counter()
            writer = (baselines.sqlite_csv(conn) if dialect == "sqlite"
                      else baselines.postgres_csv(conn))
            files = baselines.export_parquet(writer, dialect, Path(tmp))
            export = time.perf_counter() - started
            duck, duck_query = baselines.duckdb_query(files)
            duck_times, duck_values = timed(
                lambda: baselines.nine_measures(duck_query, baselines.Dialect("duckdb"),
                                                as_of=AS_OF, tz=TZ),
                args.repeat)
            duck_scan_times, _ = timed(lambda: baselines.plain_group_by(duck_query), args.repeat)
            duck.close()
        conn.close()
        # Last, as it adds usage: the values above are compared with the data before it.
        rescore = [1 + (i * 7919) % accounts for i in range(max(args.repeat * 3, 5) + 1)]
        after = run_worker(url, 0, rescore)
        ours["rescores"], ours["reads"] = after["rescores"], after["reads"]

    ours_values = {int(a): {k.replace("-", "_"): v for k, v in vals.items()}
                   for a, vals in ours["values"].items()}
    problems = (baselines.differences(ours_values, naive)
                + baselines.differences(naive, duck_values))
    result = {
        "accounts": accounts, "scored": ours["scored"], "ours": ours["runs"],
        "peak_rss_mb": ours["peak_rss_mb"], "rescores": ours["rescores"], "reads": ours["reads"],
        "naive": naive_times, "scan": scan_times, "duckdb": duck_times,
        "duckdb_scan": duck_scan_times, "export": export, "problems": problems,
    }
    report_size(result)
    return result


# -- report -------------------------------------------------------------------------------------


def report_size(r: dict[str, Any]) -> None:
    n = r["accounts"]
    total, total_median = best(r["ours"]["total"])
    print(f"  ours, full recompute      {total:7.3f} s  (median {total_median:.3f})  "
          f"{n / total:9,.0f} accounts/s  peak RSS {r['peak_rss_mb']:.0f} MiB")
    parts = ", ".join(f"{k} {min(r['ours'][k]):.3f}" for k in ("accounts", "values", "grade",
                                                               "write"))
    print(f"    best of each part (s): {parts}")
    for label, key in (("plain GROUP BY, 9 measures", "naive"), ("DuckDB, 9 measures", "duckdb"),
                       ("plain GROUP BY, all rows", "scan"), ("DuckDB, all rows", "duckdb_scan")):
        low, median = best(r[key])
        print(f"  {label:26}{low:7.3f} s  (median {median:.3f})")
    print(f"  (Parquet export: {r['export']:.1f} s, not timed above)")
    rescore_low, rescore_median = best(r["rescores"])
    print(f"  single-account rescore    {rescore_low * 1000:7.1f} ms (median "
          f"{rescore_median * 1000:.1f} ms, {len(r['rescores'])} accounts)")
    read_low, read_median = best(r["reads"])
    print(f"  read one score, explained {read_low * 1000:7.1f} ms (median {read_median * 1000:.1f} ms)")
    if r["problems"]:
        print("  VALUES DIFFER:\n    " + "\n    ".join(r["problems"]))
    else:
        print(f"  values: ours = plain GROUP BY = DuckDB for all {n:,} accounts")


def summary(results: list[dict[str, Any]]) -> bool:
    print("\n== summary")
    ok = True
    for r in results:
        ours, duck, naive = min(r["ours"]["total"]), min(r["duckdb"]), min(r["naive"])
        values = min(r["ours"]["values"])
        ratio = ours / duck
        ok &= ratio <= 3 and not r["problems"]
        print(f"  {r['accounts']:>7,} accounts: full recompute {ours:.3f} s, DuckDB {duck:.3f} s, "
              f"plain GROUP BY {naive:.3f} s — ours/DuckDB {ratio:.2f} (goal ≤ 3)")
        print(f"  {'':>16} the nine values alone (what the baselines compute): {values:.3f} s — "
              f"ours/DuckDB {values / duck:.2f}, plain GROUP BY/ours {naive / values:.1f}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = min(large["ours"]["total"]) / min(small["ours"]["total"])
        factor = large["accounts"] / small["accounts"]
        ok &= growth <= 1.1 * factor
        print(f"  time({large['accounts']:,}) / time({small['accounts']:,}) = {growth:.2f} "
              f"(goal ≤ {1.1 * factor:.1f})")
    rescore = statistics.median([t for r in results for t in r["rescores"]]) * 1000
    ok &= rescore < 50
    print(f"  single-account rescore after an ingest: median {rescore:.1f} ms (goal < 50 ms)")
    print(f"  {'all goals met' if ok else 'NOT all goals met'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", help="a PostgreSQL database; databases for the "
                        "benchmark are made (and dropped) beside it. Default: SQLite files")
    parser.add_argument("--scales", default="1,2",
                        help="sizes to run, as multiples of --accounts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="keep the SQLite files in this directory (with "
                        "--database-url: keep the PostgreSQL databases), and reuse them next "
                        "time (the data is the same for the same size)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rescore", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        rescore = [int(a) for a in args.rescore.split(",") if a]
        print(json.dumps(worker(args.worker, args.repeat, rescore)))
        return
    if importlib.util.find_spec("duckdb") is None:
        # Checked before the data is made (minutes), not when the DuckDB baseline first needs it.
        sys.exit("bench/score.py compares against DuckDB, which is not installed; install the "
                 "benchmarks' extra with:  pip install -e '.[bench]'")
    engine = "PostgreSQL" if args.database_url and "postgres" in args.database_url else "SQLite"
    print(f"Bansō scoring benchmark on {engine}: ABC preset, as of {AS_OF}, "
          f"{os.cpu_count()} CPUs, best of {args.repeat}")
    results = [run_size(args, int(args.accounts * float(s))) for s in args.scales.split(",")]
    ok = summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
