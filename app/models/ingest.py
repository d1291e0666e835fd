"""Ingestion log: Segment batches acknowledged to their sender but not yet applied.

A request is answered once its checked messages are committed here (one row per batch); the
applier (``app.ingest.applier.apply_log``) turns rows into raw events and rollups in large
transactions and deletes each row in the transaction that applies it, so the table holds
exactly the backlog: a crash before that commit leaves the row to be applied again, and the
``(source, messageId)`` deduplication of raw events keeps a second application from counting twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from app.db import BigIntPK, JSONType, UTCDateTime, one_of, utcnow

EVENT_TYPES = ("track", "page", "screen", "identify", "group")


class Source(SQLModel, table=True):
    """A sender of Segment-format traffic; authenticates with a write key (stored as SHA-256)."""

    __tablename__ = "source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    key_prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    key_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_event_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(String(1000)))


class SourceDailyStat(SQLModel, table=True):
    """Messages accepted and rejected per source and day (in the team's time zone)."""

    __tablename__ = "source_daily_stat"

    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    accepted: int = Field(default=0)
    rejected: int = Field(default=0)
    duplicates: int = Field(default=0)


class IngestError(SQLModel, table=True):
    """A message a source sent that was rejected, with the reason and (a prefix of) the message."""

    __tablename__ = "ingest_error"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    message_id: str | None = Field(default=None, sa_column=Column(String(255)))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    excerpt: str | None = Field(default=None, sa_column=Column(String(2000)))


class TrackedUser(SQLModel, table=True):
    """A product user seen in the traffic: their latest group link and identify traits.

    Identify calls can arrive before the group call that tells us the user's account; the traits
    wait here, and the contact is created when the account becomes known.
    """

    __tablename__ = "tracked_user"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    account_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="SET NULL"), index=True),
    )
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    first_seen_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class Event(SQLModel, table=True):
    """A raw message as received (append-only; purged after the retention period).

    ``account_id`` is null while the event cannot be attributed yet (pending); ``group_id`` is
    the account id the message claimed, kept so it can be attributed when that account appears.
    """

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint(one_of("type", EVENT_TYPES), name="type"),
        Index("uq_event_source_message", "source_id", "message_id", unique=True),
        Index("ix_event_account_occurred", "account_id", "occurred_at"),
        Index("ix_event_received_at", "received_at"),
        Index(
            "ix_event_pending_user",
            "user_id",
            sqlite_where=text("account_id IS NULL"),
            postgresql_where=text("account_id IS NULL"),
        ),
        Index(
            "ix_event_pending_group",
            "group_id",
            sqlite_where=text("account_id IS NULL"),
            postgresql_where=text("account_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True))
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False)
    )
    message_id: str = Field(sa_column=Column(String(255), nullable=False))
    type: str = Field(sa_column=Column(String(8), nullable=False))
    name: str | None = Field(default=None, sa_column=Column(String(255)))
    user_id: str | None = Field(default=None, sa_column=Column(String(255)))
    anonymous_id: str | None = Field(default=None, sa_column=Column(String(255)))
    group_id: str | None = Field(default=None, sa_column=Column(String(255)))
    account_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"))
    )
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class IngestBatch(SQLModel, table=True):
    """One acknowledged batch of a source, waiting to be applied."""

    __tablename__ = "ingest_batch"
    __table_args__ = (
        # The backlog's size and age (``app.ingest.pending.backlog``: /v1's limit, /readyz) read this small
        # index instead of every row, each of which holds a whole batch.
        Index("ix_ingest_batch_received_at", "received_at", "messages"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True))
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False)
    )
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: The batch's ``sentAt``, for the clock-skew correction of messages without a timestamp.
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    #: The type a single-call endpoint implies (``/v1/track`` → track); null for ``/v1/batch``.
    implied_type: str | None = Field(default=None, sa_column=Column(String(8)))
    #: How many messages ``body`` holds.
    messages: int = Field(nullable=False)
    #: The accepted messages as a JSON array, as sent (batch-level context merged in); the
    #: rejected ones were answered and logged at request time and are not here.
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


#: Why the applier set a message aside (``IngestDeadLetter.reason``); the pages translate them.
DEAD_LETTER_REASONS = ("database_refused", "store_failed")


class IngestDeadLetter(SQLModel, table=True):
    """A message the applier could not store, set aside so the rest of its batch (and every
    later one) is stored; replaying it puts it back in the log, as received, after a fix."""

    __tablename__ = "ingest_dead_letter"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True))
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    #: As the message's log row had them (its event time may depend on both).
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    implied_type: str | None = Field(default=None, sa_column=Column(String(8)))
    set_aside_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    message_id: str | None = Field(default=None, sa_column=Column(String(255)))
    #: One of ``DEAD_LETTER_REASONS``, with its parameters (``{"error": "DataError",
    #: "sqlstate": "22003"}``): a code the pages render in the reader's language, not a sentence.
    reason: str = Field(sa_column=Column(String(32), nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: The message as JSON, as it was logged (bytes: it may hold what a JSON column refuses).
    message: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IngestApplierStatus(SQLModel, table=True):
    """The applier's health, shared by every server process (one row, ``id`` 1): whichever
    process applies records its failures here, and any process's ``/readyz`` reads them."""

    __tablename__ = "ingest_applier_status"

    id: int = Field(default=1, primary_key=True)
    #: The first of the current run of failed transactions; null once one succeeds.
    failing_since: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_failure_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    failures: int = Field(default=0, nullable=False)  # failed transactions in the current run
    #: The last failure's exception class (``OperationalError``): a code, not a sentence.
    error: str | None = Field(default=None, sa_column=Column(String(100)))
