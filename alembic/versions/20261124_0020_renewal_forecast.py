"""renewal forecast: each fit (training window, out-of-time evaluation, past-quarter backtest) and
every active account's current probability to renew with its drivers

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-24 09:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "renewal_forecast_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.String(length=16), nullable=True),
        sa.Column("training_first_on", sa.Date(), nullable=True),
        sa.Column("training_last_on", sa.Date(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("renewed", sa.Integer(), nullable=False),
        sa.Column("churned", sa.Integer(), nullable=False),
        sa.Column("average_probability", sa.Float(), nullable=True),
        sa.Column("evaluation", JSON_TYPE, nullable=False),
        sa.Column("backtest", JSON_TYPE, nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'insufficient_history', 'no_model', 'no_scores')",
            name=op.f("ck_renewal_forecast_run_status"),
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["health_model_version.id"],
            name=op.f("fk_renewal_forecast_run_model_version_id_health_model_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_forecast_run")),
    )
    op.create_table(
        "renewal_forecast",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("renewal_on", sa.Date(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("drivers", JSON_TYPE, nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'insufficient_history', 'no_renewal_date', 'renewal_passed', "
            "'renewal_beyond_horizon', 'no_score')",
            name=op.f("ck_renewal_forecast_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_renewal_forecast_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["renewal_forecast_run.id"],
            name=op.f("fk_renewal_forecast_run_id_renewal_forecast_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["health_model_version.id"],
            name=op.f("fk_renewal_forecast_model_version_id_health_model_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_renewal_forecast")),
    )
    with op.batch_alter_table("renewal_forecast", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_renewal_forecast_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_forecast_probability"), ["probability"], unique=False)


def downgrade() -> None:
    op.drop_table("renewal_forecast")
    op.drop_table("renewal_forecast_run")
