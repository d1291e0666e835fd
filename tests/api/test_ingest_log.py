"""The ingestion log: ``/v1`` answers once a batch is durably logged; the applier stores it later.

What a sender and a reader can rely on: the 200 means the batch is committed (a fresh connection
sees it); until the applier runs, the batch shows as queued in the pending view and nothing is in
the rollups; an applier that fails part-way loses nothing and counts nothing twice; the same
batch logged twice (a retry) counts once; a backlog past the limit answers 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner, Result

from app import scheduler
from app.cli import cli
from app.db import session_scope
from app.ingest import applier, checks
from app.ingest import pending as ingest_pending
from app.ingest import writer as ingest_writer
from app.ingest.writer import Job, LogWriter
from app.models import Event, IngestBatch, UsageDaily
from tests.builders import post_source
from tests.conftest import AS_OF
from tests.helpers import Headers, assert_problem
from tests.segment_messages import WHEN, basic, drain, group, track, usage_on


class Boom(Exception):
    pass


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return auth("admin")


@pytest.fixture
def key(client: TestClient, admin: Headers) -> str:
    write_key: str = post_source(client, admin)["write_key"]
    return write_key


def post(client: TestClient, key: str, messages: list[Any]) -> dict[str, Any]:
    response = client.post("/v1/batch", headers=basic(key), content=orjson.dumps({"batch": messages}))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(engine: Engine) -> tuple[int, int, int]:
    """(log rows, raw events, summed rollup events), read through a fresh connection."""
    with engine.connect() as conn:
        logged = conn.execute(select(func.count()).select_from(IngestBatch)).scalar_one()
        events = conn.execute(select(func.count()).select_from(Event)).scalar_one()
        rolled = conn.execute(select(func.coalesce(func.sum(UsageDaily.event_count), 0))).scalar_one()
    return logged, events, rolled


def queued(client: TestClient, admin: Headers) -> dict[str, Any]:
    response = client.get("/api/v1/ingest/pending", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["queued"]
    return body


BATCH = [group("g1", "u1", "acme"), track("t1"), track("t2", "u2", group="acme"), track("t3", "u1", "Export")]


def test_the_200_comes_after_the_batch_is_committed_to_the_log(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    body = post(client, key, BATCH)

    assert body == {"success": True, "accepted": 4, "rejected": 0, "errors": []}
    # Another connection sees the logged batch: it was committed before the answer.
    assert counts(app.state.engine) == (1, 0, 0)

    applied = drain(app)

    assert (applied.batches, applied.accepted, applied.duplicates) == (1, 4, 0)
    assert counts(app.state.engine) == (0, 4, 3)
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 2, "Export": 1}


def test_the_backlog_shows_as_queued_in_the_pending_view(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    assert queued(client, admin) == {"batches": 0, "messages": 0, "oldest_received_at": None}
    post(client, key, BATCH)
    post(client, key, [track("t9", "u9"), {"type": "track", "messageId": "bad"}])

    waiting = queued(client, admin)

    # Rejected messages are answered and logged at once; they are not queued.
    assert (waiting["batches"], waiting["messages"]) == (2, 5)
    assert waiting["oldest_received_at"].startswith("2026-11-23T09:00")
    assert client.get("/api/v1/accounts/acme", headers=admin).status_code == 404  # not applied yet

    drain(app)

    assert queued(client, admin)["batches"] == 0
    pending = client.get("/api/v1/ingest/pending", headers=admin).json()
    assert pending["pending_events"] == 1  # u9 has no account yet: applied, and still visible


def test_an_applier_failing_before_its_commit_loses_nothing_and_counts_once(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    engine = app.state.engine
    post(client, key, BATCH)
    post(client, key, [track("t4", "u2", "Export", group="acme")])

    # The applier stores everything, then dies before committing (a crash, a lost connection).
    with pytest.raises(Boom), session_scope(engine) as session:
        applied = applier.apply_log(session, tz=app.state.settings.tz)
        assert applied.accepted == 5
        raise Boom

    assert counts(engine) == (2, 0, 0)
    assert drain(app).accepted == 5
    assert drain(app).batches == 0
    day = usage_on(client, admin, "acme")
    assert (day["event_count"], day["active_users"]) == (4, 2)
    assert day["events"] == {"Report Built": 2, "Export": 2}


def test_a_log_row_applied_twice_counts_once(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    # Exactly-once rests on the messageIds, not on the log row being deleted: a row that comes
    # back after it was applied (here copied back in) stores nothing new.
    engine = app.state.engine
    post(client, key, BATCH)
    with engine.connect() as conn:
        row = conn.execute(select(IngestBatch.__table__)).one()._asdict()  # type: ignore[attr-defined]
    drain(app)
    with engine.begin() as conn:
        conn.execute(IngestBatch.__table__.insert(), [row])  # type: ignore[attr-defined]

    applied = drain(app)

    assert (applied.batches, applied.accepted, applied.duplicates) == (1, 0, 4)
    assert counts(engine) == (0, 4, 3)
    stats = client.get("/api/v1/sources/1/stats", headers=admin).json()["days"][0]
    assert (stats["accepted"], stats["duplicates"]) == (4, 4)


def test_a_replayed_batch_waiting_in_the_log_twice_counts_once(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    post(client, key, BATCH)
    post(client, key, BATCH)  # the SDK's retry after a lost answer: logged again
    post(client, key, BATCH[1:])

    assert counts(app.state.engine)[0] == 3
    applied = drain(app)

    assert (applied.accepted, applied.duplicates) == (4, 7)
    day = usage_on(client, admin, "acme")
    assert (day["event_count"], day["active_users"]) == (3, 2)


def test_batches_are_applied_in_the_order_they_were_acknowledged(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    # Usage-only batches are stored together; a batch with group calls is stored on its own,
    # so a user who moves account takes only later events along.
    post(client, key, [group("g1", "u1", "acme")])
    post(client, key, [track("a1", ts=WHEN)])
    post(client, key, [track("a2", ts=WHEN)])
    post(client, key, [group("g2", "u1", "globex")])
    post(client, key, [track("b1", ts=WHEN)])

    drain(app)

    assert usage_on(client, admin, "acme")["event_count"] == 2
    assert usage_on(client, admin, "globex")["event_count"] == 1


def test_one_apply_takes_about_max_messages(app: FastAPI, client: TestClient, key: str) -> None:
    for n in range(5):
        post(client, key, [track(f"t{n}-{i}", f"u{i}", group="acme") for i in range(4)])

    with session_scope(app.state.engine) as session:
        first = applier.apply_log(session, tz=app.state.settings.tz, max_messages=10)
    with session_scope(app.state.engine) as session:
        tiny = applier.apply_log(session, tz=app.state.settings.tz, max_messages=1)

    assert (first.batches, first.messages) == (2, 8)
    assert (tiny.batches, tiny.messages) == (1, 4)  # always at least one batch
    assert counts(app.state.engine)[0] == 2


def test_a_backlog_over_the_limit_is_503_with_retry_after(
    app: FastAPI, client: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_writer, "MAX_BACKLOG_MESSAGES", 5)
    monkeypatch.setattr(ingest_writer, "BACKLOG_RECOUNT_SECONDS", 0.0)
    post(client, key, [track(f"t{i}") for i in range(5)])

    refused = client.post("/v1/batch", headers=basic(key), content=orjson.dumps({"batch": [track("t9")]}))

    problem = assert_problem(refused, 503)
    assert "waiting to be stored" in problem["detail"]
    assert refused.headers["retry-after"].isdigit()
    assert counts(app.state.engine)[0] == 1  # the refused batch was not kept

    drain(app)

    assert post(client, key, [track("t9")])["accepted"] == 1


def test_the_background_applier_stores_what_was_acknowledged(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    post(client, key, BATCH)

    async def run_until_applied() -> None:
        task = asyncio.create_task(scheduler.run_applier(app.state.engine, app.state.settings, idle=0.01))
        try:
            for _ in range(500):
                if counts(app.state.engine)[0] == 0:
                    return
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
        raise AssertionError("the applier did not apply the log within 5 s")

    asyncio.run(run_until_applied())

    assert counts(app.state.engine) == (0, 4, 3)


def test_only_one_applier_runs_at_a_time_on_postgresql(app: FastAPI, client: TestClient, key: str) -> None:
    engine = app.state.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer; the lock is PostgreSQL's")
    post(client, key, BATCH)

    with session_scope(engine) as holder:
        assert applier.apply_log(holder, tz=app.state.settings.tz).batches == 1
        # While the first applier's transaction is open, a second one gives way at once.
        with session_scope(engine) as other:
            assert applier.apply_log(other, tz=app.state.settings.tz, wait=False).busy

    assert counts(engine)[0] == 0


def test_a_user_id_that_looks_like_an_anonymous_key_is_another_person(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    post(
        client,
        key,
        [
            track("t1", None, group="acme", anonymousId="x"),
            track("t2", "anon:x", group="acme"),
            group("g1", "u1", "acme"),
        ],
    )
    drain(app)

    day = usage_on(client, admin, "acme")

    assert (day["event_count"], day["active_users"]) == (2, 2)
    assert day["distinct_users"] == {"Report Built": 2}


def test_an_account_imported_from_csv_collects_the_usage_that_waited_for_it(
    app: FastAPI, client: TestClient, key: str, admin: Headers
) -> None:
    post(client, key, [track("w1", group="later-co"), track("w2", "u2", group="later-co")])
    drain(app)

    response = client.post(
        "/api/v1/imports/accounts",
        headers={**admin, "Content-Type": "text/csv"},
        content=b"id,name\nlater-co,Later KK\n",
    )

    assert response.status_code == 200, response.text
    day = usage_on(client, admin, "later-co")
    assert (day["event_count"], day["active_users"]) == (2, 2)
    assert client.get("/api/v1/ingest/pending", headers=admin).json()["pending_events"] == 0


def test_the_log_keeps_times_as_utc_on_every_engine(app: FastAPI, client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/batch",
        headers=basic(key),
        content=orjson.dumps(
            {
                "batch": [track("t1", ts=None, originalTimestamp="2026-11-25T08:59:00Z")],
                "sentAt": "2026-11-25T09:00:00Z",
            }
        ),
    )
    assert response.status_code == 200

    with session_scope(app.state.engine) as session:
        row = session.execute(select(IngestBatch)).scalar_one()
        assert (row.received_at, row.sent_at) == (AS_OF, dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC))
        assert session.execute(text("SELECT count(*) FROM ingest_batch")).scalar_one() == 1


# -- group commit, lag and the commands ----------------------------------------------------------


def test_requests_waiting_for_the_writer_are_logged_in_one_transaction(
    app: FastAPI, client: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client, key, [track("t0")])  # the writer exists and knows the key
    writer: LogWriter = app.state.segment_writer
    before = writer.groups
    # PostgreSQL: the writer's first group waits in its INSERT, holding however many requests had
    # arrived when it started (one or more); the rest queue behind it. SQLite: the writer does not
    # wait for the lock, so every request stays queued.
    taken: list[int] = []
    if not writer.sqlite:
        write_group = writer._write_postgres

        async def counting(jobs: list[Any]) -> list[BaseException | None]:
            taken.append(len(jobs))
            return await write_group(jobs)

        monkeypatch.setattr(writer, "_write_postgres", counting)
    results: list[dict[str, Any]] = []
    senders = [
        threading.Thread(target=lambda n=n: results.append(post(client, key, [track(f"t{n + 1}")])))
        for n in range(4)
    ]
    with holding_the_log_table(app.state.engine):  # another connection is writing
        for sender in senders:
            sender.start()
        for _ in range(500):
            if len(writer.queue) + sum(taken) == 4:
                break
            time.sleep(0.01)
        waiting, in_flight = len(writer.queue), len(taken)
        assert waiting + sum(taken) == 4
        assert in_flight == (0 if writer.sqlite else 1)
    for sender in senders:
        sender.join(10)

    assert [r["accepted"] for r in results] == [1, 1, 1, 1]
    # Every request that waited went in one transaction (after the one that was waiting, if any).
    assert writer.groups - before == in_flight + (1 if waiting else 0)
    assert counts(app.state.engine)[0] == 5


@contextlib.contextmanager
def holding_the_log_table(engine: Engine) -> Iterator[None]:
    """Another connection holds the write lock (SQLite) or a lock on the log (PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DELETE FROM ingest_batch WHERE id < 0")
        else:
            conn.exec_driver_sql("LOCK TABLE ingest_batch IN EXCLUSIVE MODE")
        yield
        conn.rollback()


def test_a_locked_database_is_503_after_the_busy_timeout(
    app: FastAPI, client: TestClient, key: str
) -> None:
    post(client, key, [track("t0")])
    writer: LogWriter = app.state.segment_writer
    if not writer.sqlite:
        pytest.skip("SQLite's single write lock; PostgreSQL's log appends wait on row locks only")
    writer.busy_timeout_ms = 50
    with holding_the_log_table(app.state.engine):
        refused = client.post("/v1/batch", headers=basic(key), content=orjson.dumps({"batch": [track("t1")]}))

    assert_problem(refused, 503)
    assert refused.headers["retry-after"].isdigit()
    assert post(client, key, [track("t1")])["accepted"] == 1
    assert counts(app.state.engine)[0] == 2


def test_the_writer_task_ends_when_the_queue_is_empty_and_starts_again(
    app: FastAPI, client: TestClient, key: str
) -> None:
    post(client, key, [track("t1")])
    writer: LogWriter = app.state.segment_writer
    assert writer.task is None and writer.queue == []

    assert post(client, key, [track("t2")])["accepted"] == 1
    assert writer.task is None
    assert counts(app.state.engine)[0] == 2


def test_readyz_tells_how_far_the_applier_lags(app: FastAPI, client: TestClient, key: str) -> None:
    lag_keys = ("queued_batches", "queued_messages", "oldest_age_seconds", "problem")
    ingest_state = client.get("/readyz").json()["ingest"]
    assert {k: ingest_state[k] for k in lag_keys} == {
        "queued_batches": 0,
        "queued_messages": 0,
        "oldest_age_seconds": None,
        "problem": None,
    }
    post(client, key, BATCH)
    post(client, key, [track("t9")])
    app.state.clock = lambda: AS_OF + dt.timedelta(seconds=90)

    response = client.get("/readyz")

    assert response.status_code == 200  # lagging within the limit is ready
    ingest_state = response.json()["ingest"]
    assert {k: ingest_state[k] for k in lag_keys} == {
        "queued_batches": 2,
        "queued_messages": 5,
        "oldest_age_seconds": 90.0,
        "problem": None,
    }
    limit = app.state.settings.ingest_max_lag_seconds
    app.state.clock = lambda: AS_OF + dt.timedelta(seconds=limit + 1)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["ingest"]["problem"] == "applier_lagging"
    drain(app)
    assert client.get("/readyz").json()["ingest"]["queued_batches"] == 0
    assert client.get("/readyz").status_code == 200


def test_the_ingest_commands_show_and_drain_the_log(
    app: FastAPI, client: TestClient, key: str, db_url: str, admin: Headers
) -> None:
    post(client, key, BATCH)
    post(client, key, [track("w1", "u9")])  # u9 has no account: pending once applied

    status = cli_run(db_url, "ingest", "status")
    assert status.exit_code == 0, status.output
    assert "queued: 5 messages in 2 batches" in status.stdout

    applied = cli_run(db_url, "ingest", "apply")

    assert applied.exit_code == 0, applied.output
    assert "applied 2 batches (5 messages)" in applied.stdout
    assert "5 stored, 0 duplicates, 1 pending, 0 rejected, 0 set aside" in applied.stdout
    assert counts(app.state.engine)[0] == 0
    assert usage_on(client, admin, "acme")["events"] == {"Report Built": 2, "Export": 1}
    status = cli_run(db_url, "ingest", "status")
    assert "queued: 0 messages in 0 batches" in status.stdout
    assert "pending (no account yet): 1 events" in status.stdout
    assert "u9" in status.stdout


def cli_run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"BANSOU_DATABASE_URL": db_url})


def test_a_batch_whose_logging_fails_fails_only_its_own_request(
    app: FastAPI, client: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client, key, [track("t0")])  # the writer exists and knows the key
    writer: LogWriter = app.state.segment_writer
    append = LogWriter._append
    at = dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)

    async def fail_second(self: LogWriter, db: Any, job: Job) -> None:
        await append(self, db, job)  # its writes are made, then undone with the failure
        if job.received_at == at + dt.timedelta(seconds=2):
            raise Boom("this batch only")

    monkeypatch.setattr(LogWriter, "_append", fail_second)

    async def write() -> list[BaseException | None]:  # on the app's event loop, as requests do
        loop = asyncio.get_running_loop()
        jobs = [
            Job(
                writer.keys[key],
                [track(f"j{n}")],
                checks.check_batch([track(f"j{n}")], received_at=at + dt.timedelta(seconds=n)),
                at + dt.timedelta(seconds=n),
                None,
                None,
                loop.create_future(),
            )
            for n in (1, 2, 3)
        ]
        return await writer._write(jobs)

    assert client.portal is not None
    errors = client.portal.call(write)

    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], Boom)
    assert counts(app.state.engine)[0] == 3  # t0, j1 and j3: nothing of j2


def test_readyz_is_503_not_500_when_the_backlog_cannot_be_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone(session: Any) -> ingest_pending.Backlog:
        raise Boom("the database went away")

    monkeypatch.setattr(ingest_pending, "backlog", gone)
    response = client.get("/readyz")

    assert response.status_code == 503, response.text
    assert response.json()["database"] == "unreachable: Boom"


def test_a_writer_that_cannot_reach_the_database_answers_503_and_hangs_nobody(
    app: FastAPI, client: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(self: LogWriter) -> Any:
        raise OperationalError("connect", {}, Exception("connection refused"))

    post(client, key, [track("t0")])
    writer: LogWriter = app.state.segment_writer
    assert client.portal is not None
    client.portal.call(writer.close)  # its connection is gone: the next group connects
    monkeypatch.setattr(LogWriter, "_connect", unreachable)

    refused = client.post("/v1/batch", headers=basic(key), content=orjson.dumps({"batch": [track("t1")]}))

    assert_problem(refused, 503)
    assert writer.task is None and writer.queue == []
    monkeypatch.undo()
    assert post(client, key, [track("t1")])["accepted"] == 1
