"""Request and response bodies for sources of Segment-format traffic and the ingestion backlog."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints

from app.types import BigDbId


class SourceCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class SourcePublic(BaseModel):
    id: int
    name: str
    key_prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_event_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error: str | None


class SourceCreated(SourcePublic):
    write_key: str


class DayStat(BaseModel):
    day: dt.date
    accepted: int
    rejected: int
    duplicates: int


class SourceStatsPublic(BaseModel):
    source: SourcePublic
    days: list[DayStat]


class IngestErrorPublic(BaseModel):
    id: int
    received_at: dt.datetime
    message_id: str | None
    reason: str
    excerpt: str | None


class DeadLetterPublic(BaseModel):
    """A message the applier could not store: why (a code and its parameters) and the message."""

    id: int
    received_at: dt.datetime
    set_aside_at: dt.datetime
    message_id: str | None
    reason: str  # database_refused | store_failed
    params: dict[str, Any]  # error: the exception class; sqlstate: the database's code, if any
    message: str  # the message as JSON


class ReplayIn(BaseModel):
    ids: list[BigDbId] | None = None  # omitted: every set-aside message of the source


class Replayed(BaseModel):
    replayed: int


class PendingUser(BaseModel):
    user: str
    group_id: str | None
    events: int
    oldest_received_at: dt.datetime | None


class QueuedSummary(BaseModel):
    """Acknowledged batches not applied to events and rollups yet (the applier's lag)."""

    batches: int
    messages: int
    oldest_received_at: dt.datetime | None


class ApplierSummary(BaseModel):
    """Whether the applier is failing (its transactions, not single messages: those are set
    aside), and how many messages it has set aside in all."""

    failing_since: dt.datetime | None
    last_failure_at: dt.datetime | None
    failures: int
    error: str | None
    set_aside: int


class PendingSummary(BaseModel):
    queued: QueuedSummary
    applier: ApplierSummary
    pending_events: int
    oldest_received_at: dt.datetime | None
    by_user: list[PendingUser]
