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
import datetime as dt
import sqlite3
import zlib
from typing import Any

import orjson
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from app.errors import (
    BadRequest,
    IngestUnavailable,
    InvalidInput,
    NotAuthenticated,
    Overloaded,
    PayloadTooLarge,
)
from app.ingest import checks, pacing
from app.ingest.segment import MAX_BATCH_BYTES, loads_body, parse_time
from app.ingest.writer import Job, LogWriter

router = APIRouter(tags=["segment"])

#: More requests than this in flight at once get 503 + Retry-After instead of queueing forever.
MAX_IN_FLIGHT = 64

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


def _gate(request: Request) -> _Gate:
    gate = getattr(request.app.state, "segment_gate", None)
    if gate is None:
        gate = request.app.state.segment_gate = _Gate()
    return gate


def _writer(request: Request) -> LogWriter:
    writer = getattr(request.app.state, "segment_writer", None)
    if writer is None:
        settings = request.app.state.settings
        writer = request.app.state.segment_writer = LogWriter(
            request.app.state.engine, settings.tz, busy_timeout_ms=settings.sqlite_busy_timeout_ms
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
        raise BadRequest(f"body is not valid gzip: {exc}") from None
    if len(out) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"body over {MAX_BATCH_BYTES} bytes after decompression")
    return out


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
    gate = _gate(request)  # requests run on the event loop only: no lock needed
    if gate.in_flight >= MAX_IN_FLIGHT:
        raise Overloaded("too many requests in flight; retry shortly")
    gate.in_flight += 1
    try:
        with pacing.request_in_flight():
            return await _process(request, implied_type)
    finally:
        gate.in_flight -= 1


async def _process(request: Request, implied_type: str | None) -> JSONResponse:
    received_at: dt.datetime = request.app.state.clock()
    body = await _read_body(request)
    try:
        payload = loads_body(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
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

    checked = checks.check_batch(
        raws, received_at=received_at, batch_sent_at=batch_sent_at, implied_type=implied_type
    )
    writer = _writer(request)
    try:
        source_id = await writer.source_id(write_key)
        job = Job(
            source_id,
            raws,
            checked,
            received_at,
            batch_sent_at,
            implied_type,
            asyncio.get_running_loop().create_future(),
        )
        await writer.store(job)
    except (OperationalError, sqlite3.OperationalError, psycopg.OperationalError):
        # Lock timeouts or a database restarting: nothing was committed; the SDK retries.
        raise IngestUnavailable() from None
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
