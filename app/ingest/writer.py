"""Appending checked Segment batches to the ingestion log: group commit on the event loop.

A ``/v1`` request is answered once its batch is committed to the log (``applier.apply_log``
stores the events and rollups shortly after). The batches of the requests that are waiting are
appended together, in one transaction, by one writer task per event loop:

- **SQLite**: the task writes on the event loop itself, through the driver, and never waits
  for a lock there. It takes the process's write turn (``pacing.writer_turn``) and SQLite's
  write lock without waiting (``busy_timeout`` 0 on its own connection); when the applier or
  another process holds either, the batches stay queued and the task tries again a moment
  later, for up to the configured busy timeout (then 503: the SDKs retry). Written on a thread
  instead, every step would wait for the interpreter lock the event loop holds (up to 5 ms
  each, the switch interval): measured, three quarters of the time a request took.
- **PostgreSQL**: the task writes through psycopg's asynchronous connection: while the server
  answers, the loop serves other requests (row locks never make log appends wait).

A group's commit costs one disk sync whatever its size. Each batch is written in a savepoint:
one whose writes fail is undone alone and only its request hears it; a failed commit fails
every request of the group (nothing of theirs was kept, and the SDKs retry).

Write keys are verified once (with the slow hash) and then remembered by their source's id; each
group reads its sources again, so a revoked key is refused from its next batch on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.engine import Engine

from app.db import session_scope
from app.errors import NotAuthenticated, Overloaded, WriteLockTaken, WriteLockTimeout
from app.ingest import pacing, sources
from app.ingest.checks import Checked
from app.ingest.outcomes import rejection_statements
from app.ingest.statements import sql_for

#: Acknowledged messages the applier has not stored yet; past this, 503 + Retry-After until it
#: catches up (a few minutes of work for the applier; ~400 MB of log at most).
MAX_BACKLOG_MESSAGES = 1_000_000
#: How often the backlog is counted again (between counts, the writer adds what it logged).
BACKLOG_RECOUNT_SECONDS = 0.5
#: SQLite: how long the writer waits before trying again when the write lock is taken.
RETRY_SECONDS = (0.0005, 0.001, 0.002, 0.005)


@dataclass
class Job:
    """One request's checked batch, waiting to be logged."""

    source_id: int
    raws: list[Any]
    checked: Checked
    received_at: dt.datetime
    batch_sent_at: dt.datetime | None
    implied_type: str | None
    done: asyncio.Future[None]


class LogWriter:
    """The group-commit writer of one app (see the module's docstring)."""

    def __init__(self, engine: Engine, tz: ZoneInfo, *, busy_timeout_ms: int = 5000) -> None:
        self.engine = engine
        self.tz = tz
        self.sqlite = engine.dialect.name == "sqlite"
        self.busy_timeout_ms = busy_timeout_ms
        self.sql = sql_for(engine.dialect.name)
        self.queue: list[Job] = []
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.backlog = 0  # messages in the log, as last counted plus what this writer added
        self.counted_at = float("-inf")
        self.keys: dict[str, int] = {}  # verified write key -> source id
        self.groups = 0  # transactions committed (tests and benchmarks read it)
        self.connection: Any = None  # sqlite3.Connection or psycopg.AsyncConnection

    # -- requests ------------------------------------------------------------------------------

    async def source_id(self, write_key: str) -> int:
        """The source behind a write key, verified once (in a worker thread: the hash is slow on
        purpose); 401 if unknown or revoked. Liveness is read again with every group."""
        known = self.keys.get(write_key)
        if known is not None:
            return known
        source_id = await asyncio.to_thread(self._authenticate, write_key)
        if len(self.keys) >= 1000:  # only verified keys get here: a rotation at most
            self.keys.clear()
        self.keys[write_key] = source_id
        return source_id

    def _authenticate(self, write_key: str) -> int:
        with session_scope(self.engine) as session:
            source = sources.authenticate_write_key(session, write_key)
            assert source.id is not None
            return source.id

    async def store(self, job: Job) -> None:
        """Log the job's batch with whatever else is waiting; returns once committed."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests): whatever the old one held is gone
            if not self.sqlite and self.connection is not None:
                self.connection.pgconn.finish()  # bound to the old loop: closed without it
                self.connection = None
            self.loop, self.queue, self.task = loop, [], None
        self.queue.append(job)
        if self.task is None:
            self.task = loop.create_task(self._drain())
        await job.done

    async def close(self) -> None:
        """Write the batches already queued, then close the connection (the app is stopping)."""
        if self.task is not None and self.loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await self.task
        if self.connection is not None:
            if self.sqlite:
                self.connection.close()
            elif self.loop is asyncio.get_running_loop():
                await self.connection.close()
            else:
                self.connection.pgconn.finish()
            self.connection = None

    # -- the writer task -----------------------------------------------------------------------

    async def _drain(self) -> None:
        jobs: list[Job] = []
        try:
            started = time.monotonic()
            tries = 0
            while self.queue:
                jobs, self.queue = self.queue, []
                try:
                    errors = await self._write(jobs)
                except WriteLockTaken:
                    waited = time.monotonic() - started
                    if waited * 1000 >= self.busy_timeout_ms:
                        errors = [WriteLockTimeout(waited)] * len(jobs)
                    else:
                        self.queue[:0], jobs = jobs, []  # first in line again
                        await asyncio.sleep(RETRY_SECONDS[min(tries, len(RETRY_SECONDS) - 1)])
                        tries += 1
                        continue
                except Exception as exc:  # e.g. no connection to be had: these requests hear it
                    errors = [exc] * len(jobs)
                for job, error in zip(jobs, errors, strict=True):
                    _settle(job.done, error)
                jobs = []
                started, tries = time.monotonic(), 0
        finally:
            self.task = None
            left, self.queue = [*jobs, *self.queue], []
            for job in left:  # cancelled (the app is stopping): not known to be logged
                with contextlib.suppress(RuntimeError):  # their event loop is closed
                    _settle(job.done, RuntimeError("the ingestion writer stopped"))

    async def _write(self, jobs: list[Job]) -> list[BaseException | None]:
        """Append the jobs in one transaction: the error of each (None: logged), once committed."""
        return await (self._write_sqlite(jobs) if self.sqlite else self._write_postgres(jobs))

    async def _write_sqlite(self, jobs: list[Job]) -> list[BaseException | None]:
        turn = pacing.write_turn_lock()
        if not turn.acquire(blocking=False):  # the applier is writing: its turn first
            raise WriteLockTaken
        try:
            driver = await self._connect()
            try:
                driver.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise WriteLockTaken from None
                raise
            try:
                errors = await self._write_jobs(_Db(driver, postgres=False), jobs)
                # The disk sync (~0.5 ms) on the loop too: handed to a worker thread, the thread
                # then waited for the interpreter lock to report back (measured 10% slower).
                driver.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    driver.execute("ROLLBACK")
                return [exc] * len(jobs)
            self._committed(jobs, errors)
            return errors
        finally:
            turn.release()

    async def _write_postgres(self, jobs: list[Job]) -> list[BaseException | None]:
        driver = await self._connect()
        try:
            errors = await self._write_jobs(_Db(driver, postgres=True), jobs)
            await driver.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await driver.rollback()
            if driver.broken or driver.closed:  # the next group connects again
                self.connection = None
            return [exc] * len(jobs)
        self._committed(jobs, errors)
        return errors

    async def _connect(self) -> Any:
        """The writer's own connection, outside the pool: checking one out of the pool could
        wait (on the event loop) for web requests to return theirs.

        SQLite: the driver's, with the engine's pragmas, except that it never waits for the
        write lock (``busy_timeout`` 0: ``_drain`` tries again a moment later). PostgreSQL:
        psycopg's asynchronous connection, so that the loop serves other requests while the
        server answers; bound to this event loop.
        """
        if self.connection is not None:
            return self.connection
        if self.sqlite:
            pooled = self.engine.raw_connection()
            driver = pooled.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            pooled.detach()  # ours until close()
            driver.execute("PRAGMA busy_timeout=0")
            self.connection = driver
        else:
            url = self.engine.url.set(drivername="postgresql")
            self.connection = await psycopg.AsyncConnection.connect(url.render_as_string(hide_password=False))
        return self.connection

    def _committed(self, jobs: list[Job], errors: list[BaseException | None]) -> None:
        self.groups += 1
        self.backlog += sum(len(j.checked.accepted) for j, e in zip(jobs, errors, strict=True) if e is None)

    async def _write_jobs(self, db: _Db, jobs: list[Job]) -> list[BaseException | None]:
        overloaded = await self._overloaded(db)
        if overloaded is not None:
            return [overloaded] * len(jobs)
        ids = sorted({j.source_id for j in jobs})
        live = {
            row[0]
            for row in await db.rows(
                f"SELECT id FROM source WHERE revoked_at IS NULL AND id IN ({self.sql.marks(len(ids))})",  # noqa: S608
                ids,
            )
        }
        errors: list[BaseException | None] = []
        for n, job in enumerate(jobs):
            if job.source_id not in live:
                self.keys = {k: s for k, s in self.keys.items() if s != job.source_id}
                errors.append(NotAuthenticated("invalid or revoked write key", scheme='Basic realm="bansou"'))
                continue
            await db.run(f"SAVEPOINT log_{n}")
            try:
                await self._append(db, job)
            except Exception as exc:
                await db.run(f"ROLLBACK TO SAVEPOINT log_{n}")
                errors.append(exc)
            else:
                errors.append(None)
            await db.run(f"RELEASE SAVEPOINT log_{n}")
        return errors

    async def _append(self, db: _Db, job: Job) -> None:
        sql, checked = self.sql, job.checked
        if checked.accepted:
            await db.run(
                "INSERT INTO ingest_batch (source_id, received_at, sent_at, implied_type, messages, "  # noqa: S608
                f"body) VALUES ({sql.marks(6)})",
                [
                    job.source_id,
                    sql.time(job.received_at),
                    None if job.batch_sent_at is None else sql.time(job.batch_sent_at),
                    job.implied_type,
                    len(checked.accepted),
                    checked.body(),
                ],
            )
        if checked.rejected:
            day = job.received_at.astimezone(self.tz).date()
            for statement, params in rejection_statements(
                sql, job.source_id, day, job.raws, checked.rejected, job.received_at
            ):
                await db.run(statement, params)

    async def _overloaded(self, db: _Db) -> Overloaded | None:
        now = time.monotonic()
        if now - self.counted_at >= BACKLOG_RECOUNT_SECONDS:
            counted = await db.rows("SELECT coalesce(sum(messages), 0) FROM ingest_batch", [])
            self.backlog = int(counted[0][0])
            self.counted_at = now
        if self.backlog < MAX_BACKLOG_MESSAGES:
            return None
        return Overloaded(f"{self.backlog} accepted messages are waiting to be stored; retry shortly")


class _Db:
    """Statements on the writer's connection, with the dialect's own placeholders. SQLite's
    run at once (the coroutines never suspend); PostgreSQL's wait for the server."""

    def __init__(self, driver: Any, *, postgres: bool) -> None:
        self.driver = driver
        self.postgres = postgres

    async def run(self, statement: str, params: list[Any] | None = None) -> None:
        if self.postgres:
            async with psycopg.AsyncRawCursor(self.driver) as cursor:
                await cursor.execute(statement, params)
        else:
            self.driver.execute(statement, params or ())

    async def rows(self, statement: str, params: list[Any]) -> list[Any]:
        if self.postgres:
            async with psycopg.AsyncRawCursor(self.driver) as cursor:
                await cursor.execute(statement, params)
                return await cursor.fetchall()
        return self.driver.execute(statement, params).fetchall()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the request was cancelled (its client went away) while it waited
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
