"""The Segment-compatible HTTP Tracking API: ``/v1/batch`` and the single-call endpoints.

Any SDK that speaks the Segment format can point its host at Bansō. Success is exactly
``200 {"success": true}`` (some SDKs retry anything else); a batch with some bad messages is
still a 200 that says how many were rejected and why (retrying cannot fix them), and the
rejections are in the source's error log. Overload is 503 with ``Retry-After``, which SDKs retry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from app.db import session_scope
from app.errors import BansouError, InvalidInput, NotAuthenticated, PayloadTooLarge, problem
from app.models import Source
from app.services import ingest, sources
from app.services.segment import MAX_BATCH_BYTES, parse_time

router = APIRouter(tags=["segment"])

#: More requests than this in flight at once get 503 + Retry-After instead of queueing forever.
MAX_IN_FLIGHT = 64
RETRY_AFTER_SECONDS = "2"

_DOC = {
    "responses": {
        200: {"description": "Stored (see `accepted`, `duplicates`, `rejected`)"},
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


#: A transaction takes every batch waiting when it starts, up to about this many messages.
GROUP_MESSAGES = 5000


@dataclass
class _Job:
    """One request's batch, waiting to be stored; ``done`` once its transaction committed."""

    write_key: str
    raws: list[Any]
    received_at: dt.datetime
    batch_sent_at: dt.datetime | None
    implied_type: str | None
    result: ingest.IngestResult | None = None
    error: BaseException | None = None
    done: bool = False


class _Writer:
    """Group commit: the batches that arrive while a transaction is being written are stored
    together in the next one, each in its own savepoint, and all are answered by its commit.

    A commit costs a sync to disk (SQLite, synchronous=FULL) or a WAL flush (PostgreSQL); one per
    request caps throughput at the disk's syncs per second, one per group does not. Nothing
    changes for a request: its batch is stored as if alone (the batches of a group are stored in
    arrival order, each sees the ones before it, so a resend in the same group is a duplicate),
    and it is answered only after the commit that holds its data. If the commit fails, every
    request of the group gets the error, and none of their data is stored.

    There is no writer thread: a request thread that finds nobody writing becomes the writer for
    everything queued, while the others wait for it and find their work done (or write the rest
    of the queue themselves). One transaction at a time per process also means batches of the
    same process never deadlock each other on PostgreSQL.
    """

    def __init__(self, engine: Any, tz: Any) -> None:
        self.engine = engine
        self.tz = tz
        self.write_lock = threading.Lock()
        self.queue_lock = threading.Lock()
        self.queue: list[_Job] = []

    def store(self, job: _Job) -> ingest.IngestResult:
        """Store the job's batch (with whatever else is waiting); its result once committed."""
        with self.queue_lock:
            self.queue.append(job)
        with self.write_lock:
            if not job.done:
                self._write(self._take())
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _take(self) -> list[_Job]:
        with self.queue_lock:
            size = 0
            for taken, queued in enumerate(self.queue):
                size += len(queued.raws)
                if size > GROUP_MESSAGES and taken > 0:
                    break
            else:
                taken = len(self.queue)
            jobs, self.queue = self.queue[:taken], self.queue[taken:]
        return jobs

    def _write(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[ingest.IngestResult | None, BaseException | None]] = []
        try:
            with session_scope(self.engine) as session:
                known: dict[str, Source | BansouError] = {}
                for job in jobs:
                    outcomes.append(self._one(session, job, known))
        except BaseException as exc:  # nothing of the group is stored: every request hears it
            outcomes = [(None, exc)] * len(jobs)
        for job, (result, error) in zip(jobs, outcomes, strict=True):
            job.result, job.error, job.done = result, error, True

    def _one(
        self, session: Any, job: _Job, known: dict[str, Source | BansouError]
    ) -> tuple[ingest.IngestResult | None, BaseException | None]:
        source = known.get(job.write_key)
        if source is None:
            try:
                source = sources.authenticate_write_key(session, job.write_key)
            except BansouError as exc:
                source = exc
            known[job.write_key] = source
        if isinstance(source, BansouError):
            return None, source
        try:
            with session.begin_nested():
                result = ingest.ingest_messages(
                    session, source=source, raws=job.raws, received_at=job.received_at,
                    tz=self.tz, batch_sent_at=job.batch_sent_at, implied_type=job.implied_type,
                )
        except OperationalError:
            raise  # the database is busy or gone: the whole group is retried
        except Exception as exc:  # this batch only; the others of the group go ahead
            return None, exc
        return result, None


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
                503, "Overloaded", "too many requests in flight; retry shortly",
                slug="overloaded", request=request, headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        gate.in_flight += 1
    try:
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
                if isinstance(m, dict) and isinstance(m.get("context") or {}, dict) else m
                for m in raws
            ]
    else:
        raws = [payload]
    try:
        batch_sent_at = parse_time(payload.get("sentAt"), "sentAt")
    except ValueError:
        batch_sent_at = None

    job = _Job(write_key, raws, received_at, batch_sent_at, implied_type)
    try:
        result = await run_in_threadpool(_writer(request).store, job)
    except OperationalError:
        # Lock timeouts or a database restarting: nothing was committed; the SDK retries.
        return problem(
            503, "Temporarily unavailable", "the database is busy; retry shortly",
            slug="unavailable", request=request, headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    errors = [
        {"index": r.index, "messageId": r.message_id, "reason": r.reason} for r in result.rejected
    ]
    if implied_type is not None and result.rejected:
        raise InvalidInput.field(implied_type, result.rejected[0].reason)
    return JSONResponse({
        "success": True,
        "accepted": result.acknowledged,
        "duplicates": result.duplicates,
        "pending": result.pending,
        "rejected": len(result.rejected),
        "errors": errors,
    })


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
