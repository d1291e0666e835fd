"""foundation: users, accounts, contacts, api keys

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:13:10.793553+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'csm', 'viewer')", name=op.f("ck_user_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("email", name=op.f("uq_user_email")),
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("segment", sa.String(length=16), nullable=True),
        sa.Column("plan", sa.String(length=100), nullable=True),
        sa.Column("licensed_seats", sa.Integer(), nullable=True),
        sa.Column("arr", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contract_start_on", sa.Date(), nullable=True),
        sa.Column("renewal_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("churned_on", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("traits", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "segment IS NULL OR segment IN ('enterprise', 'mid_market', 'smb')",
            name=op.f("ck_account_segment"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'churned', 'deleted')", name=op.f("ck_account_status")
        ),
        sa.CheckConstraint("arr >= 0", name=op.f("ck_account_arr")),
        sa.CheckConstraint(
            "licensed_seats IS NULL OR licensed_seats >= 0", name=op.f("ck_account_licensed_seats")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_account_owner_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("external_id", name=op.f("uq_account_external_id")),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_renewal_on"), ["renewal_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_segment"), ["segment"], unique=False)
        batch_op.create_index("ix_account_status_name", ["status", "name"], unique=False)

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write', 'admin')", name=op.f("ck_api_key_scope")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_api_key_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("is_champion", sa.Boolean(), nullable=False),
        sa.Column("is_decision_maker", sa.Boolean(), nullable=False),
        sa.Column("is_star_user", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("traits", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'deleted')", name=op.f("ck_contact_status")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_contact_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint("external_id", name=op.f("uq_contact_external_id")),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_email"), ["email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_email"))
        batch_op.drop_index(batch_op.f("ix_contact_account_id"))

    op.drop_table("contact")
    op.drop_table("api_key")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index("ix_account_status_name")
        batch_op.drop_index(batch_op.f("ix_account_segment"))
        batch_op.drop_index(batch_op.f("ix_account_renewal_on"))
        batch_op.drop_index(batch_op.f("ix_account_owner_id"))
        batch_op.drop_index(batch_op.f("ix_account_name"))
        batch_op.drop_index(batch_op.f("ix_account_industry"))

    op.drop_table("account")
    op.drop_table("user")
