"""scheduled jobs' last runs: start, finish, success, error, failures in a row, next attempt

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 20:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        _at("last_started_at"),
        _at("last_finished_at"),
        _at("last_success_at"),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("last_outcome", JSON_TYPE, nullable=True),
        _at("last_error_at"),
        sa.Column("last_error_code", sa.String(length=16), nullable=True),
        sa.Column("last_error_type", sa.String(length=100), nullable=True),
        sa.Column("last_error_message", sa.String(length=300), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _at("next_attempt_at"),
        sa.CheckConstraint(
            "last_status IN ('running', 'succeeded', 'failed')", name=op.f("ck_job_run_last_status")
        ),
        sa.CheckConstraint(
            "last_error_code IS NULL OR last_error_code IN ('database', 'error')",
            name=op.f("ck_job_run_last_error_code"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_run")),
    )


def downgrade() -> None:
    op.drop_table("job_run")
