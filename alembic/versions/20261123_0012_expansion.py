"""expansion opportunities (the upsell pipeline)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 18:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "opportunity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_close_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("lost_reason", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_data", JSON_TYPE, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('upsell_seats', 'cross_sell', 'upgrade_plan')", name=op.f("ck_opportunity_kind")
        ),
        sa.CheckConstraint(
            "lost_reason IS NULL OR lost_reason IN "
            "('budget', 'timing', 'no_need', 'competitor', 'product_fit', 'other')",
            name=op.f("ck_opportunity_lost_reason"),
        ),
        sa.CheckConstraint(
            "source IN ('manual', 'seats_nearly_full', 'usage_growth')",
            name=op.f("ck_opportunity_source"),
        ),
        sa.CheckConstraint(
            "stage IN ('identified', 'qualified', 'proposal', 'committed', 'won', 'lost')",
            name=op.f("ck_opportunity_stage"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_opportunity_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_opportunity_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_opportunity_owner_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity")),
        sa.UniqueConstraint("external_id", name=op.f("uq_opportunity_external_id")),
    )
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.create_index("ix_opportunity_account", ["account_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_opportunity_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_opportunity_stage", ["stage", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_index("ix_opportunity_stage")
        batch_op.drop_index(batch_op.f("ix_opportunity_owner_id"))
        batch_op.drop_index("ix_opportunity_account")

    op.drop_table("opportunity")
