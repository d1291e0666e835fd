"""Checking Segment batches: which messages to keep and which are rejected, and why.

At request time ``check_batch`` decides (no I/O) and keeps each accepted message's compact JSON
for the log; at apply time ``parse_batch`` turns the logged messages into ``Message`` values,
dropping any the checks reject now and any repeated within the batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.ingest.segment import (
    MAX_FUTURE,
    Message,
    Rejected,
    check_message,
    parse_message,
    usual_fields,
)


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    reason: str


@dataclass
class IngestResult:
    accepted: int = 0  # new messages stored
    duplicates: int = 0  # already stored earlier (a retry): acknowledged, not counted again
    pending: int = 0  # new usage events not attributable to an account yet
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return self.accepted + self.duplicates


@dataclass
class Checked:
    """A batch after the request-time checks: the messages to keep and the rejected ones."""

    accepted: list[Any] = field(default_factory=list)  # raw messages, in batch order
    rejected: list[Rejection] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)  # each accepted message's compact JSON

    def body(self) -> bytes:
        """The accepted messages as one JSON array (what the log stores)."""
        return b"[" + b",".join(self.encoded) + b"]"


def check_batch(
    raws: list[Any],
    *,
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
) -> Checked:
    """Check every message of a batch (no I/O): which to keep, which are rejected and why."""
    checked = Checked()
    accept, encode = checked.accepted.append, checked.encoded.append
    latest = received_at + MAX_FUTURE
    dumps = orjson.dumps
    for index, raw in enumerate(raws):
        if type(raw) is dict:
            try:
                encoded = dumps(raw)
            except orjson.JSONEncodeError:
                pass
            else:
                if usual_fields(raw, encoded, latest) is not None:
                    accept(raw)
                    encode(encoded)
                    continue
        try:
            encoded = check_message(
                raw,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                implied_type=implied_type,
            )
        except Rejected as exc:
            checked.rejected.append(_rejection(index, raw, exc))
            continue
        accept(raw)
        encode(encoded)
    return checked


def _rejection(index: int, raw: Any, exc: Rejected) -> Rejection:
    message_id = raw.get("messageId") if isinstance(raw, dict) else None
    logged_id = str(message_id).replace("\x00", "\ufffd")[:255] if message_id else None
    return Rejection(index, logged_id, str(exc))


def parse_batch(
    raws: list[Any],
    received_at: dt.datetime,
    batch_sent_at: dt.datetime | None,
    implied_type: str | None,
    result: IngestResult,
    seen: set[str],
) -> list[Message]:
    """The batch's messages, without those rejected or already earlier in it (``seen``)."""
    messages: list[Message] = []
    for index, raw in enumerate(raws):
        try:
            msg = parse_message(
                raw,
                received_at=received_at,
                batch_sent_at=batch_sent_at,
                implied_type=implied_type,
            )
        except Rejected as exc:
            result.rejected.append(_rejection(index, raw, exc))
            continue
        if msg.message_id in seen:  # the same message twice in one batch
            result.duplicates += 1
            continue
        seen.add(msg.message_id)
        messages.append(msg)
    return messages
