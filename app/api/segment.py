"""The Segment-compatible HTTP Tracking API: ``/v1/batch`` and the single-call endpoints.

Any SDK that speaks the Segment format can point its host at Bansō. Success is exactly
``200 {"success": true}`` (some SDKs retry anything else), sent once the batch's checked messages
are committed to the ingestion log; the applier stores them as events and rollups shortly after
(``GET /api/v1/ingest/pending`` shows what is still queued). A batch with some bad messages is
still a 200 that says how many were rejected and why (retrying cannot fix them), and the
rejections are in the source's error log. Overload — too many requests in flight, or a backlog
the applier has not caught up with — is 503 with ``Retry-After``, which SDKs retry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from app.db import session_scope
from app.errors import BansouError, InvalidInput, NotAuthenticated, PayloadTooLarge, problem
from app.services import ingest, sources
from app.services.segment import MAX_BATCH_BYTES, parse_time

router = APIRouter(tags=["segment"])

#: More requests than this in flight at once get 503 + Retry-After instead of queueing forever.
MAX_IN_FLIGHT = 64
#: Acknowledged messages the applier has not stored yet; past this, 503 + Retry-After until it
#: catches up (1-3 minutes of work at the applier's measured 5,000-11,000 messages/s on two
#: cores; ~400 MB of log at most).
MAX_BACKLOG_MESSAGES = 1_000_000
#: How often the backlog is counted again (between counts, each process adds what it logged).
BACKLOG_RECOUNT_SECONDS = 0.5
RETRY_AFTER_SECONDS = "2"

_DOC = {
    "responses": {
        200: {"description": "Accepted and durably queued (see `accepted`, `rejected`)"},
        400: {"description": "Malformed JSON or not a Segment payload"},
        401: {"description": "Unknown or revoked write key"},
        413: {"description": "Over 500 KB after decompression"},
        503: {"description": "Overloaded; retry after `Retry-After` seconds"},
    },
    "openapi_extra": {
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
    },
}


class _Gate:
    """Counts requests in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.count_lock = threading.Lock()


def _gate(request: Request) -> _Gate:
    gate = getattr(request.app.state, "segment_gate", None)
    if gate is None:
        gate = request.app.state.segment_gate = _Gate()
    return gate


class Overloaded(BansouError):
    status = 503
    slug = "overloaded"
    title = "Overloaded"


@dataclass
class _Job:
    """One request's checked batch, waiting to be logged; answered once its transaction committed."""

    write_key: str
    raws: list[Any]
    checked: ingest.Checked
    received_at: dt.datetime
    batch_sent_at: dt.datetime | None
    implied_type: str | None
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


#: The writer thread ends after this long without work (and starts again with the next batch),
#: so an idle app, or one of many in a test run, keeps no thread.
WRITER_IDLE_SECONDS = 2.0


class _Writer:
    """Group commit: one writer thread appends every batch that is waiting to the log in one
    transaction, and answers all of their requests when it has committed.

    A commit costs a WAL flush to disk (PostgreSQL) or a write to the WAL (SQLite); one per
    request caps throughput at the disk's syncs per second, one per group does not: the batches
    that arrive while a commit is being written go together in the next one. Each request is
    answered only after the commit that holds its batch; a batch whose own writes fail is undone
    alone (a savepoint) and only its request gets the error; if the commit fails, every request
    of the group gets it (the SDKs retry; nothing of theirs was kept). Requests wait on a
    future of their own event loop, so a waiting request holds no thread.
    """

    def __init__(self, engine: Any, tz: Any) -> None:
        self.engine = engine
        self.tz = tz
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.queue: list[_Job] = []
        self.thread: threading.Thread | None = None
        self.backlog = 0  # messages in the log, as last counted plus what this process added
        self.counted_at = float("-inf")
        self.sources = sources.WriteKeyCache()

    async def store(self, job: _Job) -> None:
        """Log the job's batch (with whatever else is waiting); returns once committed."""
        with self.lock:
            self.queue.append(job)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="bansou-ingest-log", daemon=True)
                self.thread.start()
            else:
                self.wake.notify()
        await job.done

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.queue:
                    self.wake.wait(WRITER_IDLE_SECONDS)
                if not self.queue:
                    self.thread = None
                    return
                jobs, self.queue = self.queue, []
            errors = self._write(jobs)
            for job, error in zip(jobs, errors, strict=True):
                with contextlib.suppress(RuntimeError):  # its event loop has closed meanwhile
                    job.loop.call_soon_threadsafe(_settle, job.done, error)

    def _write(self, jobs: list[_Job]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        logged = 0
        try:
            with ingest.writer_turn(self.engine), session_scope(self.engine) as session:
                ingest.take_write_lock(session)
                overloaded = self._overloaded(session)
                for job in jobs:
                    error: BaseException | None = overloaded or self._isolated(session, job)
                    errors.append(error)
                    if error is None:
                        logged += len(job.checked.accepted)
        except BaseException as exc:  # nothing of the group is stored: every request hears it
            errors = [exc] * len(jobs)
            logged = 0
        self.backlog += logged
        return errors

    def _overloaded(self, session: Any) -> Overloaded | None:
        now = time.monotonic()
        if now - self.counted_at >= BACKLOG_RECOUNT_SECONDS:
            self.backlog = ingest.backlog(session).messages
            self.counted_at = now
        if self.backlog < MAX_BACKLOG_MESSAGES:
            return None
        return Overloaded(f"{self.backlog} accepted messages are waiting to be stored; retry shortly")

    def _isolated(self, session: Any, job: _Job) -> BaseException | None:
        """Log one job in a savepoint: its failure undoes its writes only and fails its request
        only; the rest of the group still commits (a broken connection fails the commit, and so
        every request of the group)."""
        try:
            with session.begin_nested():
                error = self._one(session, job)
        except Exception as exc:
            return exc
        return error

    def _one(self, session: Any, job: _Job) -> BansouError | None:
        try:
            source_id = self.sources.source_id(session, job.write_key)
        except BansouError as exc:
            return exc
        ingest.log_batch(
            session,
            source_id=source_id,
            raws=job.raws,
            checked=job.checked,
            received_at=job.received_at,
            tz=self.tz,
            batch_sent_at=job.batch_sent_at,
            implied_type=job.implied_type,
        )
        return None


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # the request was cancelled (its client went away) while it waited
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _writer(request: Request) -> _Writer:
    writer = getattr(request.app.state, "segment_writer", None)
    if writer is None:
        writer = request.app.state.segment_writer = _Writer(
            request.app.state.engine, request.app.state.settings.tz
        )
    return writer


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BATCH_BYTES} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(f"request body over {MAX_BATCH_BYTES} bytes")
    body = bytes(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise InvalidInput.field("Content-Encoding", "only gzip is supported", "header")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_BATCH_BYTES + 1)
    except zlib.error as exc:
        raise _BadRequest(f"body is not valid gzip: {exc}") from None
    if len(out) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"body over {MAX_BATCH_BYTES} bytes after decompression")
    return out


class _BadRequest(BansouError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


def _write_key(request: Request, payload: dict[str, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            user, _, _password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("malformed Basic credentials", scheme="Basic") from None
        if user:
            return user
    body_key = payload.get("writeKey")
    if isinstance(body_key, str) and body_key:
        return body_key
    raise NotAuthenticated(
        "send the write key as the Basic auth user name, or as writeKey in the body",
        scheme='Basic realm="bansou"',
    )


async def _handle(request: Request, implied_type: str | None) -> JSONResponse:
    gate = _gate(request)
    with gate.count_lock:
        if gate.in_flight >= MAX_IN_FLIGHT:
            return problem(
                503,
                "Overloaded",
                "too many requests in flight; retry shortly",
                slug="overloaded",
                request=request,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        gate.in_flight += 1
    try:
        with ingest.request_in_flight():
            return await _process(request, implied_type)
    finally:
        with gate.count_lock:
            gate.in_flight -= 1


async def _process(request: Request, implied_type: str | None) -> JSONResponse:
    received_at: dt.datetime = request.app.state.clock()
    body = await _read_body(request)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _BadRequest("the body must be a JSON object")
    write_key = _write_key(request, payload)

    if implied_type is None:
        raws = payload.get("batch")
        if not isinstance(raws, list):
            raise InvalidInput.field("batch", "must be a list of messages")
        batch_context = payload.get("context")
        if isinstance(batch_context, dict) and batch_context:
            # A message's own context wins, key by key; a message whose context is not an
            # object is left as sent (its payload is kept verbatim).
            raws = [
                {**m, "context": {**batch_context, **(m.get("context") or {})}}
                if isinstance(m, dict) and isinstance(m.get("context") or {}, dict)
                else m
                for m in raws
            ]
    else:
        raws = [payload]
    try:
        batch_sent_at = parse_time(payload.get("sentAt"), "sentAt")
    except ValueError:
        batch_sent_at = None

    checked = ingest.check_batch(
        raws, received_at=received_at, batch_sent_at=batch_sent_at, implied_type=implied_type
    )
    loop = asyncio.get_running_loop()
    job = _Job(write_key, raws, checked, received_at, batch_sent_at, implied_type, loop, loop.create_future())
    try:
        await _writer(request).store(job)
    except Overloaded as exc:
        return problem(
            503,
            exc.title,
            str(exc),
            slug=exc.slug,
            request=request,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    except OperationalError:
        # Lock timeouts or a database restarting: nothing was committed; the SDK retries.
        return problem(
            503,
            "Temporarily unavailable",
            "the database is busy; retry shortly",
            slug="unavailable",
            request=request,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    errors = [{"index": r.index, "messageId": r.message_id, "reason": r.reason} for r in checked.rejected]
    if implied_type is not None and checked.rejected:
        raise InvalidInput.field(implied_type, checked.rejected[0].reason)
    # Duplicates (a retried batch) and attribution are known only once the batch is applied:
    # the source's daily stats count them, and /api/v1/ingest/pending shows what waits.
    return JSONResponse(
        {
            "success": True,
            "accepted": len(checked.accepted),
            "rejected": len(checked.rejected),
            "errors": errors,
        }
    )


@router.post("/v1/batch", **_DOC)  # type: ignore[arg-type]
async def batch(request: Request) -> JSONResponse:
    """Segment batch: `{"batch": [messages], "sentAt": ..., "writeKey"?: ...}`."""
    return await _handle(request, None)


@router.post("/v1/track", **_DOC)  # type: ignore[arg-type]
async def track(request: Request) -> JSONResponse:
    """A single track call."""
    return await _handle(request, "track")


@router.post("/v1/identify", **_DOC)  # type: ignore[arg-type]
async def identify(request: Request) -> JSONResponse:
    """A single identify call."""
    return await _handle(request, "identify")


@router.post("/v1/group", **_DOC)  # type: ignore[arg-type]
async def group(request: Request) -> JSONResponse:
    """A single group call."""
    return await _handle(request, "group")


@router.post("/v1/page", **_DOC)  # type: ignore[arg-type]
async def page(request: Request) -> JSONResponse:
    """A single page call."""
    return await _handle(request, "page")


@router.post("/v1/screen", **_DOC)  # type: ignore[arg-type]
async def screen(request: Request) -> JSONResponse:
    """A single screen call."""
    return await _handle(request, "screen")
