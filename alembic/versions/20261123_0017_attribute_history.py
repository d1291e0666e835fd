"""attribute history: accounts' and contacts' attributes as they were at any past instant

``account_change`` keeps the account attributes measures and model choice read (seats, ARR,
segment, industry, plan, owner); ``contact_change`` keeps contacts' roles, status and account.
One row per change, valid from the instant of the change. Every existing account and contact
gets one row as it is now, valid from its creation.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 09:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("licensed_seats", sa.Integer(), nullable=True),
        sa.Column("arr", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("plan", sa.String(length=100), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=320), nullable=False),
        sa.CheckConstraint(
            "segment IS NULL OR segment IN ('enterprise', 'mid_market', 'smb')",
            name=op.f("ck_account_change_segment"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_change_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user.id"],
            name=op.f("fk_account_change_owner_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_change")),
    )
    with op.batch_alter_table("account_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_change_account_valid_from", ["account_id", "valid_from"], unique=False
        )
        batch_op.create_index("ix_account_change_valid_from", ["valid_from"], unique=False)

    op.create_table(
        "contact_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("is_champion", sa.Boolean(), nullable=False),
        sa.Column("is_decision_maker", sa.Boolean(), nullable=False),
        sa.Column("is_star_user", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=320), nullable=False),
        sa.CheckConstraint("status IN ('active', 'deleted')", name=op.f("ck_contact_change_status")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_contact_change_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_contact_change_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_change")),
    )
    with op.batch_alter_table("contact_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_change_contact_valid_from", ["contact_id", "valid_from"], unique=False
        )
        batch_op.create_index("ix_contact_change_valid_from", ["valid_from"], unique=False)

    # What is known of the past: each account and contact as it is now, since its creation.
    op.execute(
        "INSERT INTO account_change (account_id, licensed_seats, arr, segment, industry, plan,"
        " owner_id, valid_from, recorded_by)"
        " SELECT id, licensed_seats, arr, segment, industry, plan, owner_id, created_at, 'system'"
        " FROM account ORDER BY id"
    )
    op.execute(
        "INSERT INTO contact_change (contact_id, account_id, is_champion, is_decision_maker,"
        " is_star_user, status, valid_from, recorded_by)"
        " SELECT id, account_id, is_champion, is_decision_maker, is_star_user, status,"
        " created_at, 'system' FROM contact ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("contact_change")
    op.drop_table("account_change")
