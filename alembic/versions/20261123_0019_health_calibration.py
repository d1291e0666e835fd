"""health calibrations: a model's calibration from the book's history, with its validation

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 00:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "health_calibration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("draft_version", sa.Integer(), nullable=True),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("report", JSON_TYPE, nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["health_model.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_health_calibration_model_created", "health_calibration", ["model_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_health_calibration_model_created", table_name="health_calibration")
    op.drop_table("health_calibration")
