"""Ingestion log: Segment batches acknowledged to their sender but not yet applied.

A request is answered once its checked messages are committed here (one row per batch); the
applier (``app.services.ingest.apply_log``) turns rows into raw events and rollups in large
transactions and deletes each row in the transaction that applies it, so the table holds
exactly the backlog: a crash before that commit leaves the row to be applied again, and the
``(source, messageId)`` deduplication of raw events keeps a second application from counting twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime

__all__ = ["IngestBatch"]

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
