"""Ingestion log: Segment batches acknowledged to their sender but not yet applied.

A request is answered once its checked messages are committed here (one row per batch); the
applier (``app.services.ingest.apply_log``) turns rows into raw events and rollups in large
transactions and deletes each row in the transaction that applies it, so the table holds
exactly the backlog: a crash before that commit leaves the row to be applied again, and the
``(source, messageId)`` deduplication of raw events keeps a second application from counting twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime

__all__ = ["DEAD_LETTER_REASONS", "IngestApplierStatus", "IngestBatch", "IngestDeadLetter"]

#: As ``app.models.BigIntPK`` (this module is imported by it): SQLite only autoincrements INTEGER.
_BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class IngestBatch(SQLModel, table=True):
    """One acknowledged batch of a source, waiting to be applied."""

    __tablename__ = "ingest_batch"
    __table_args__ = (
        # The backlog's size and age (``ingest.backlog``: /v1's limit, /readyz) read this small
        # index instead of every row, each of which holds a whole batch.
        Index("ix_ingest_batch_received_at", "received_at", "messages"),
    )

    id: int | None = Field(default=None, sa_column=Column(_BigIntPK, primary_key=True))
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

    id: int | None = Field(default=None, sa_column=Column(_BigIntPK, primary_key=True))
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
