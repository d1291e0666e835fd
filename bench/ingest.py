"""Ingestion benchmark: Segment-format track events through ``POST /v1/batch`` over loopback.

Starts the server as users do (``bansou serve``: uvicorn, one process, with its background
applier) on a temporary SQLite file (or ``--database-url``), creates a source with the CLI, links
~3,000 users to ~300 accounts with group calls (not timed), then a separate client process sends
track events in batches from a few keep-alive connections and measures:

- **accepted**: events/s from the first request to the last 200 (each 200 means the batch is
  durably in the ingestion log), and p50/p99 batch latency;
- **end to end**: events/s from the first request until the applier has stored every event in
  the raw events and rollups (polled through ``GET /api/v1/ingest/pending``), and the largest
  backlog seen;
- the server's peak RSS (``VmHWM``) and its RSS at 25/50/75/100 % of the run (flat = no growth
  with the event count);
- the same client against a baseline served the same way (``bench/baseline_app.py``: uvicorn +
  FastAPI, an endpoint that only parses the JSON body), and the ratio between the two.

    .venv/bin/python bench/ingest.py                       # SQLite, 200,000 events
    scripts/with-postgres sh -c '.venv/bin/python bench/ingest.py --database-url "$BANSOU_TEST_DATABASE_URL"'

Afterwards it checks, through the admin API, that every event was stored exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACCOUNTS = 300
USERS = 3000
EVENT_NAMES = [
    "Report Built",
    "Report Exported",
    "Dashboard Viewed",
    "Dashboard Shared",
    "Invoice Created",
    "Invoice Sent",
    "Payment Recorded",
    "Customer Added",
    "Customer Updated",
    "Project Created",
    "Task Completed",
    "Comment Posted",
    "File Uploaded",
    "Search Performed",
    "Filter Applied",
    "Integration Connected",
    "User Invited",
    "Settings Changed",
    "Signed In",
    "Signed Out",
]
#: Some features are used far more than others.
EVENT_WEIGHTS = [1 / (rank + 1) for rank in range(len(EVENT_NAMES))]


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, key: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


class Server:
    """A server subprocess on a free loopback port; its output goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                raise SystemExit(f"{self.name} exited: see {self.log_path}\n{tail}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start within {timeout} s: see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cli(env: dict[str, str], *args: str) -> str:
    """Run ``bansou ARGS`` and return its last line of output (where secrets are printed)."""
    out = subprocess.run(
        [str(BIN / "bansou"), *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


# -- the client process ------------------------------------------------------------------------


@dataclass
class RunResult:
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    retries: int = 0
    failures: list[str] = field(default_factory=list)
    rss_kb: dict[str, int] = field(default_factory=dict)  # "0%" ... "100%"
    server_cpu_seconds: float = 0.0
    rejected: int = 0
    started: float = 0.0  # time.monotonic() (system-wide) when the first request went out
    finished: float = 0.0  # ... and when the last answer came back


def build_bodies(events: int, batch: int, seed: int) -> list[bytes]:
    """Segment batches as analytics-python sends them: unique messageIds, ~300 accounts by
    context.groupId, ~3,000 users, 20 event names, times over the last day."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    sent_at = now.isoformat()
    bodies = []
    names = rng.choices(EVENT_NAMES, EVENT_WEIGHTS, k=events)
    for start in range(0, events, batch):
        messages = []
        for n in range(start, min(start + batch, events)):
            user = rng.randrange(USERS)
            when = now - dt.timedelta(seconds=rng.randrange(86_400))
            messages.append(
                {
                    "type": "track",
                    "event": names[n],
                    "userId": f"user-{user:05d}",
                    "anonymousId": None,
                    "properties": {
                        "plan": "pro",
                        "duration_ms": rng.randrange(20, 5000),
                        "source": rng.choice(("web", "ios", "android")),
                    },
                    "context": {
                        "groupId": f"acct-{user % ACCOUNTS:04d}",
                        "library": {"name": "analytics-python", "version": "2.4.0"},
                    },
                    "integrations": {},
                    "timestamp": when.isoformat(timespec="milliseconds"),
                    "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                }
            )
        bodies.append(orjson.dumps({"batch": messages, "sentAt": sent_at}))
    return bodies


async def _send_all(
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    server_pid: int,
) -> RunResult:
    result = RunResult(batches=len(bodies))
    marks = {round(len(bodies) * q / 100): f"{q}%" for q in (25, 50, 75, 100)}
    result.rss_kb["0%"] = proc_status_kb(server_pid, "VmRSS")
    queue = iter(range(len(bodies)))
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:

        async def worker() -> None:
            nonlocal done
            for index in queue:
                body = bodies[index]
                for _attempt in range(50):
                    started = time.perf_counter()
                    response = await client.post("/v1/batch", content=body)
                    if response.status_code in (429, 503):
                        result.retries += 1
                        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                        continue
                    break
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    result.failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    result.rejected += orjson.loads(response.content).get("rejected", 0)
                done += 1
                if done in marks:
                    result.rss_kb[marks[done]] = proc_status_kb(server_pid, "VmRSS")

        cpu = proc_cpu_seconds(server_pid)
        result.started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.finished = time.monotonic()
        result.seconds = result.finished - result.started
        result.server_cpu_seconds = proc_cpu_seconds(server_pid) - cpu
    return result


def client_process(
    url: str,
    write_key: str,
    events: int,
    batch: int,
    concurrency: int,
    server_pid: int,
    seed: int,
    conn: Any,
) -> None:
    """Runs in its own process: build the batches first (not timed), then send them."""
    bodies = build_bodies(events, batch, seed)
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    result = asyncio.run(_send_all(url, headers, bodies, concurrency, server_pid))
    result.events = events
    conn.send(result)
    conn.close()


def run_client(url: str, write_key: str, args: argparse.Namespace, server_pid: int, seed: int) -> RunResult:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=client_process,
        args=(url, write_key, args.events, args.batch, args.concurrency, server_pid, seed, child),
    )
    proc.start()
    child.close()
    result: RunResult = parent.recv()
    proc.join()
    return result


# -- setup and checks for Bansō ----------------------------------------------------------------


def link_users(url: str, write_key: str) -> None:
    """Group calls for every user (3,000 users over 300 accounts), so events are attributed."""
    auth = (write_key, "")
    with httpx.Client(base_url=url, auth=auth, timeout=60) as client:
        for start in range(0, USERS, 100):
            batch = [
                {
                    "type": "group",
                    "userId": f"user-{u:05d}",
                    "groupId": f"acct-{u % ACCOUNTS:04d}",
                    "traits": {"name": f"Account {u % ACCOUNTS:04d}", "plan": "pro", "seats": 25},
                    "messageId": f"setup-group-{u}",
                }
                for u in range(start, min(start + 100, USERS))
            ]
            response = client.post("/v1/batch", json={"batch": batch})
            response.raise_for_status()


@dataclass
class Drain:
    applied_at: float  # time.monotonic() when the log was first seen empty
    peak_backlog: int  # most messages seen waiting in the log


def queued_messages(client: httpx.Client) -> tuple[int, int] | None:
    """(batches, messages) in the ingestion log; None if the server answered 503 (retry)."""
    response = client.get("/api/v1/ingest/pending", params={"limit": 1})
    if response.status_code == 503:
        return None
    response.raise_for_status()
    queued = response.json()["queued"]
    return queued["batches"], queued["messages"]


def wait_applied(url: str, admin_key: str, *, poll: float = 0.05, timeout: float = 900) -> Drain:
    """Poll the pending view until the ingestion log is empty."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    peak = 0
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while time.monotonic() < deadline:
            queued = queued_messages(client)
            if queued is not None:
                peak = max(peak, queued[1])
                if queued[0] == 0:
                    return Drain(time.monotonic(), peak)
            time.sleep(poll)
    raise SystemExit(f"the applier did not catch up within {timeout} s")


class BacklogWatch:
    """Polls the backlog in a thread while the client sends (its peak), through ``/readyz``:
    two index reads, where the pending view also counts the unattributed events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stop.wait(0.5):
                ingest = client.get("/readyz").json().get("ingest") or {}
                self.peak = max(self.peak, ingest.get("queued_messages") or 0)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def stored_counts(url: str, admin_key: str, source_name: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        sources = client.get("/api/v1/sources").json()["data"]
        source = next(s for s in sources if s["name"] == source_name)
        days = client.get(f"/api/v1/sources/{source['id']}/stats").json()["days"]
        pending = client.get("/api/v1/ingest/pending").json()["pending_events"]
    return {
        "accepted": sum(d["accepted"] for d in days),
        "duplicates": sum(d["duplicates"] for d in days),
        "rejected": sum(d["rejected"] for d in days),
        "pending": pending,
    }


# -- report ------------------------------------------------------------------------------------


def load_average() -> str:
    """The machine's load (other work on it lowers both rates; the ratio is what compares)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def row(label: str, result: RunResult, peak_kb: int) -> str:
    rate = result.events / result.seconds
    cpu_us = result.server_cpu_seconds / result.events * 1e6
    return (
        f"{label:<24} {result.events:>9,} {result.seconds:>8.2f} {rate:>11,.0f} "
        f"{statistics.median(result.latencies_ms):>8.1f} {percentile(result.latencies_ms, 99):>8.1f} "
        f"{peak_kb / 1024:>9.1f} {cpu_us:>12.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="track events to send (default 200000)")
    parser.add_argument("--batch", type=int, default=100, help="messages per batch (default 100)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent connections (default 4)")
    parser.add_argument("--database-url", help="Bansō's database (default: a temporary SQLite file)")
    parser.add_argument("--skip-baseline", action="store_true", help="measure Bansō only")
    parser.add_argument(
        "--sqlite-synchronous", choices=("full", "normal"), default="full",
        help="SQLite's disk sync per commit (BANSOU_SQLITE_SYNCHRONOUS; default full)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bansou-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    env = {
        **os.environ,
        "BANSOU_ENV": "development",
        "BANSOU_DATABASE_URL": database_url,
        "BANSOU_SQLITE_SYNCHRONOUS": args.sqlite_synchronous,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BANSOU_TEST_DATABASE_URL", None)
    print(
        f"workdir {workdir}; {args.events:,} events in batches of {args.batch}, "
        f"{args.concurrency} connections; {os.cpu_count()} CPUs; {load_average()}; "
        f"SQLite synchronous={args.sqlite_synchronous}",
        flush=True,
    )

    results: dict[str, tuple[RunResult, int]] = {}
    try:
        if not args.skip_baseline:
            baseline = Server(
                "baseline",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "bench.baseline_app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--log-level",
                    "warning",
                ],
                env,
                workdir,
            )
            try:
                baseline.wait_ready()
                print("baseline: sending ...", flush=True)
                result = run_client(baseline.url, "baseline-key", args, baseline.proc.pid, seed=1)
                results["baseline"] = (result, proc_status_kb(baseline.proc.pid, "VmHWM"))
            finally:
                baseline.stop()

        source_name = f"bench-{uuid.uuid4().hex[:8]}"
        write_key = cli(env, "sources", "create", source_name)
        admin_key = cli(env, "keys", "create", "--name", source_name, "--scope", "admin")
        bansou = Server("bansou", [str(BIN / "bansou"), "serve", "--host", "127.0.0.1"], env, workdir)
        try:
            bansou.wait_ready()
            print("bansou: linking 3,000 users to 300 accounts (not timed) ...", flush=True)
            link_users(bansou.url, write_key)
            wait_applied(bansou.url, admin_key)
            print("bansou: sending ...", flush=True)
            watch = BacklogWatch(bansou.url)
            result = run_client(bansou.url, write_key, args, bansou.proc.pid, seed=2)
            peak_backlog = watch.close()
            accepted_kb = proc_status_kb(bansou.proc.pid, "VmHWM")
            drain = wait_applied(bansou.url, admin_key)
            drain.peak_backlog = max(drain.peak_backlog, peak_backlog)
            results["bansou"] = (result, proc_status_kb(bansou.proc.pid, "VmHWM"))
            counts = stored_counts(bansou.url, admin_key, source_name)
        finally:
            bansou.stop()
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"{'':<24} {'events':>9} {'seconds':>8} {'events/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'peak MiB':>9} {'server CPU':>12}"
    )
    print(f"{'':<24} {'':>9} {'':>8} {'':>11} {'batch':>8} {'batch':>8} {'(VmHWM)':>9} {'µs/event':>12}")
    for name, (result, peak) in results.items():
        label = "baseline (parse only)" if name == "baseline" else f"Bansō accepted ({engine})"
        print(row(label, result, peak if name == "baseline" else accepted_kb))
    ours, peak_kb = results["bansou"]
    rate = ours.events / ours.seconds
    end_to_end = drain.applied_at - ours.started
    e2e_rate = ours.events / end_to_end
    print(
        f"{f'Bansō end to end ({engine})':<24} {ours.events:>9,} {end_to_end:>8.2f} "
        f"{e2e_rate:>11,.0f} {'':>8} {'':>8} {peak_kb / 1024:>9.1f}"
    )
    if "baseline" in results:
        base, _ = results["baseline"]
        base_rate = base.events / base.seconds
        cpu_ratio = (base.server_cpu_seconds / base.events) / (ours.server_cpu_seconds / ours.events)
        print(
            f"{'ratio to baseline':<24} {'':>9} {'':>8} {rate / base_rate:>11.2f} "
            f"{'':>8} {'':>8} {'':>9} {cpu_ratio:>12.2f}   (accepted)"
        )
        print(
            f"{'ratio to baseline':<24} {'':>9} {'':>8} {e2e_rate / base_rate:>11.2f} "
            f"{'':>8} {'':>8} {'':>9} {'':>12}   (end to end)"
        )
    print()
    print(f"at the end: {load_average()}")
    print(
        f"backlog: at most {drain.peak_backlog:,} messages waiting; the last event was stored "
        f"{drain.applied_at - ours.finished:.2f} s after the last batch was acknowledged"
    )
    marks = ["0%", "25%", "50%", "75%", "100%"]
    print(
        "Bansō RSS during the run (MiB):  "
        + "  ".join(f"{m} {ours.rss_kb[m] / 1024:.1f}" for m in marks if m in ours.rss_kb)
    )
    print(
        f"retries (503/429): {ours.retries}; failed batches: {len(ours.failures)}; rejected: {ours.rejected}"
    )
    expected = args.events + USERS
    exact = counts["accepted"] == expected and counts["duplicates"] == 0 and counts["pending"] == 0
    print(
        f"stored: {counts['accepted']:,} accepted (expected {expected:,}), "
        f"{counts['duplicates']} duplicates, {counts['pending']} pending -> "
        f"{'exact' if exact else 'MISMATCH'}"
    )
    for failure in ours.failures[:5]:
        print(f"  failure: {failure}")
    for label, value in (("accepted", rate), ("end to end", e2e_rate)):
        print(f"goal >= 50,000 events/s {label}: {'met' if value >= 50_000 else 'not met'} ({value:,.0f})")
    return 0 if exact and not ours.failures else 1


if __name__ == "__main__":
    sys.exit(main())
