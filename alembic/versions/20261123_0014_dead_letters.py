"""ingestion dead letters: messages the applier could not store, and the applier's health

A message the database refuses is set aside (``ingest_dead_letter``, per source, replayable)
instead of stopping the applier; ``ingest_applier_status`` (one row) records a failing applier
so that every server process's ``/readyz`` can report it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ingest_dead_letter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("implied_type", sa.String(length=8), nullable=True),
        sa.Column("set_aside_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_ingest_dead_letter_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_dead_letter")),
    )
    op.create_index(
        op.f("ix_ingest_dead_letter_source_id"), "ingest_dead_letter", ["source_id"], unique=False
    )
    op.create_table(
        "ingest_applier_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_applier_status")),
    )


def downgrade() -> None:
    op.drop_table("ingest_applier_status")
    op.drop_index(op.f("ix_ingest_dead_letter_source_id"), table_name="ingest_dead_letter")
    op.drop_table("ingest_dead_letter")
