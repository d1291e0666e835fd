"""Benchmark: server time of the CSM pages on the demo data (goal: every page under 100 ms).

    python -m bench.web [--database-url sqlite:///demo.db] [--accounts 300] [--runs 15]

Loads the demo book (300 accounts by default; skipped when ``--database-url`` already holds
accounts), signs in as an admin (who sees every account) and requests each page ``runs`` times
through the whole app (middleware, session, CSRF, templates). The figure is the server time of each
request, measured around the application as the access log measures it (its ``ms``), as median
and 95th percentile.

The **baseline**, measured in the same run, is the portfolio as it was before paging: every
matching account rendered on one page (``PAGE_SIZE`` raised above the book's size), for the table
and the heatmap. The ratio printed is paged ÷ unpaged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app import migrations
from app.accounts import portfolio as portfolio_svc
from app.auth import users as users_svc
from app.auth.security import hash_password
from app.config import Settings
from app.db import make_engine
from app.demo import service as demo_svc
from app.main import create_app
from app.models import Account, HealthModel, Task

NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # Monday 10:00 in Tokyo
EMAIL = "bench-admin@bansou.example"
PASSWORD = secrets.token_urlsafe(24)  # a fresh one each run
GOAL_MS = 100.0
_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class _Timed:
    """The app, timing each HTTP request from its start to its last byte (server time)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ms: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.ms.append((time.perf_counter() - started) * 1000)


def prepare(url: str, accounts: int) -> None:
    """Schema at head, the demo book (unless accounts exist) and the benchmark's admin."""
    migrations.upgrade(url)
    engine = make_engine(url)
    settings = Settings(database_url=url)
    with Session(engine) as session:
        if not demo_svc.has_data(session):
            result = demo_svc.load_demo(session, seed=7, accounts=accounts, now=NOW, tz=settings.tz)
            print(
                f"  demo: {result.accounts} accounts, {result.snapshots} score snapshots, "
                f"{result.tasks} tasks",
                flush=True,
            )
        user = users_svc.get_user_by_email(session, EMAIL)
        if user is None:
            users_svc.create_user(
                session,
                email=EMAIL,
                name="Bench Admin",
                role="admin",
                password=PASSWORD,
                locale="en",
                now=NOW,
            )
        else:  # a database from an earlier run: this run's password
            user.password_hash = hash_password(PASSWORD)
            session.add(user)
        session.commit()
    engine.dispose()


def _pages(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with Session(engine) as session:
        busiest = (
            session.exec(
                select(col(Account.external_id))
                .join(Task, col(Task.account_id) == col(Account.id))
                .group_by(col(Account.external_id))
                .order_by(func.count().desc(), col(Account.external_id))
                .limit(1)
            ).first()
            or session.exec(select(col(Account.external_id)).limit(1)).one()
        )
        model_id = session.exec(select(col(HealthModel.id)).limit(1)).first()
        total = session.exec(select(func.count()).select_from(Account)).one()
    engine.dispose()
    last = max(1, -(-int(total) // portfolio_svc.PAGE_SIZE))
    pages = {
        "portfolio, all accounts": "/?owner=all",
        "portfolio, heatmap": "/?owner=all&view=heatmap",
        f"portfolio, page {last}": f"/?owner=all&page={last}",
        "portfolio, sorted by score": "/?owner=all&sort=-score",
        "portfolio, stage + tier filter": "/?owner=all&stage=rescue&tier=2",
        "account page": f"/accounts/{busiest}",
        "timeline fragment, score changes": f"/accounts/{busiest}/timeline?kind=scores#fragment",
        "this week": "/week?owner=all",
        "settings, health editor": f"/settings/health/{model_id}/edit",
    }
    return pages


@contextmanager
def _client(url: str) -> Iterator[tuple[TestClient, _Timed]]:
    app = create_app(Settings(database_url=url, scheduler_enabled=False, log_level="WARNING"))
    app.state.clock = lambda: NOW
    timed = _Timed(app)
    with TestClient(timed) as client:
        token = _TOKEN.search(client.get("/login").text)
        assert token is not None
        signed = client.post(
            "/login",
            follow_redirects=False,
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
        )
        assert signed.status_code == 303, signed.text
        yield client, timed


def measure(client: TestClient, timings: _Timed, path: str, runs: int) -> tuple[float, float, int]:
    """(median ms, p95 ms, bytes) of ``runs`` requests after two warm-up requests; a path ending in
    ``#fragment`` is asked for as htmx asks for it (the fragment, not the page)."""
    headers = {"Accept-Language": "en"}
    if path.endswith("#fragment"):
        path, headers = path.removesuffix("#fragment"), {**headers, "HX-Request": "true"}
    for _ in range(2):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
    timings.ms.clear()
    for _ in range(runs):
        response = client.get(path, headers=headers)
    samples = sorted(timings.ms[-runs:])
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(response.content)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench-web.db'}"
        print(f"database: {url.split('@')[-1]}", flush=True)
        prepare(url, args.accounts)
        pages = _pages(url)
        results: dict[str, tuple[float, float, int]] = {}
        with _client(url) as (client, timings):
            for name, path in pages.items():
                results[name] = measure(client, timings, path, args.runs)
            baseline: dict[str, tuple[float, float, int]] = {}
            paged = portfolio_svc.PAGE_SIZE
            portfolio_svc.PAGE_SIZE = 1_000_000  # the baseline: every account on one page
            try:
                for name, path in (
                    ("portfolio, all accounts", "/?owner=all"),
                    ("portfolio, heatmap", "/?owner=all&view=heatmap"),
                ):
                    baseline[name] = measure(client, timings, path, args.runs)
            finally:
                portfolio_svc.PAGE_SIZE = paged
    width = max(len(n) for n in results) + 2
    print(
        f"\nload average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" on {os.cpu_count()} CPUs (figures rise with it)"
    )
    print(f"\n{'page':<{width}} {'median ms':>10} {'p95 ms':>8} {'KiB':>7}  goal {GOAL_MS:.0f} ms")
    for name, (median, p95, size) in results.items():
        verdict = "ok" if p95 < GOAL_MS else "OVER"
        print(f"{name:<{width}} {median:>10.1f} {p95:>8.1f} {size / 1024:>7.1f}  {verdict}")
    print(f"\nbaseline (same run): every account on one page, {paged} rows per page otherwise")
    for name, (median, p95, size) in baseline.items():
        ratio: Any = results[name][0] / median if median else float("nan")
        print(
            f"{name:<{width}} unpaged {median:>7.1f} ms (p95 {p95:.1f}, {size / 1024:.0f} KiB)"
            f" → paged {results[name][0]:.1f} ms: ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
