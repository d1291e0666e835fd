"""ingestion additions: an index for the ingestion log's size and age

The backlog (``/v1``'s overload limit, ``/readyz``, ``bansou ingest status``) is counted often;
this index answers it without reading the log's rows, each of which holds a whole batch.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 18:00:00.000000+00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ingest_batch_received_at", "ingest_batch", ["received_at", "messages"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ingest_batch_received_at", table_name="ingest_batch")
