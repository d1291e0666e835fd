"""ingestion log: acknowledged Segment batches kept durably before they are applied

Also makes user keys unambiguous: a ``userId`` that starts with ``anon:`` is stored as a space
followed by the id (ids are stripped, so no other key starts with a space), so it can no longer
be mistaken for the key ``anon:<anonymousId>`` of an anonymous visitor. Keys already stored for
such user ids are rewritten where the raw events show they came from a userId and from no
anonymous visitor with the same id (where both sent events, the old counts merged them, and
only re-sending the events could separate them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Tables holding user keys, and the condition that selects the rows whose column is a user key.
_KEYED = (
    ("usage_daily_user", "user_key", "1 = 1"),
    ("usage_active_user", "user_key", "1 = 1"),
    ("usage_presence", "item", "kind = 'u'"),
)


def _from_user_id(column: str) -> str:
    """Rows whose ``anon:`` key a userId produced under the old encoding, unambiguously."""
    return (
        f"{column} LIKE 'anon:%' "  # noqa: S608 (fixed names)
        f"AND EXISTS (SELECT 1 FROM event e WHERE e.user_id = {column}) "
        f"AND NOT EXISTS (SELECT 1 FROM event e WHERE e.user_id IS NULL "
        f"AND 'anon:' || e.anonymous_id = {column})"
    )


def upgrade() -> None:
    op.create_table(
        "ingest_batch",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("implied_type", sa.String(length=8), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_ingest_batch_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batch")),
    )
    for table, column, where in _KEYED:
        op.execute(
            f"UPDATE {table} SET {column} = ' ' || {column} "  # noqa: S608 (fixed names)
            f"WHERE {where} AND {_from_user_id(column)}"
        )


def downgrade() -> None:
    for table, column, where in _KEYED:
        op.execute(
            f"UPDATE {table} SET {column} = substr({column}, 2) "  # noqa: S608 (fixed names)
            f"WHERE {where} AND {column} LIKE ' anon:%'"
        )
    op.drop_table("ingest_batch")
