"""ingestion

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:17:35.349962+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("is_key", sa.Boolean(), nullable=False),
        sa.Column("patterns", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature")),
        sa.UniqueConstraint("key", name=op.f("uq_feature_key")),
    )
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source")),
        sa.UniqueConstraint("key_prefix", name=op.f("uq_source_key_prefix")),
        sa.UniqueConstraint("name", name=op.f("uq_source_name")),
    )
    op.create_table(
        "ingest_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("excerpt", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_ingest_error_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_error")),
    )
    with op.batch_alter_table("ingest_error", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_error_source_id"), ["source_id"], unique=False)

    op.create_table(
        "source_daily_stat",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_source_daily_stat_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "day", name=op.f("pk_source_daily_stat")),
    )
    op.create_table(
        "account_activity",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_activity_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_activity")),
    )
    op.create_table(
        "event",
        sa.Column("id", BIGINT_PK, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("anonymous_id", sa.String(length=255), nullable=True),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.CheckConstraint(
            "type IN ('track', 'page', 'screen', 'identify', 'group')", name=op.f("ck_event_type")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_event_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_event_source_id_source"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_account_occurred", ["account_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_event_pending_group",
            ["group_id"],
            unique=False,
            sqlite_where=sa.text("account_id IS NULL"),
            postgresql_where=sa.text("account_id IS NULL"),
        )
        batch_op.create_index(
            "ix_event_pending_user",
            ["user_id"],
            unique=False,
            sqlite_where=sa.text("account_id IS NULL"),
            postgresql_where=sa.text("account_id IS NULL"),
        )
        batch_op.create_index("ix_event_received_at", ["received_at"], unique=False)
        batch_op.create_index("uq_event_source_message", ["source_id", "message_id"], unique=True)

    op.create_table(
        "interaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("data", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('meeting', 'call', 'email_sent', 'email_reply', 'support_ticket', 'webinar', 'event', 'community', 'community_post', 'nps_response', 'email_click', 'meeting_scheduled', 'training', 'certification', 'note')",
            name=op.f("ck_interaction_type"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_interaction_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user.id"],
            name=op.f("fk_interaction_author_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction")),
        sa.UniqueConstraint("external_id", name=op.f("uq_interaction_external_id")),
    )
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interaction_account_occurred", ["account_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_interaction_type_occurred", ["type", "occurred_at"], unique=False)

    op.create_table(
        "tracked_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("traits", JSON_TYPE, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_tracked_user_account_id_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_user")),
        sa.UniqueConstraint("user_id", name=op.f("uq_tracked_user_user_id")),
    )
    with op.batch_alter_table("tracked_user", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracked_user_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "usage_account_day",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_usage_account_day_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_usage_account_day")),
    )
    op.create_table(
        "usage_active_user",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_usage_active_user_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", "user_key", name=op.f("pk_usage_active_user")),
    )
    op.create_table(
        "usage_daily",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event", sa.String(length=255), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("distinct_users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_usage_daily_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", "event", name=op.f("pk_usage_daily")),
    )
    op.create_table(
        "usage_daily_user",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event", sa.String(length=255), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_usage_daily_user_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "day", "event", "user_key", name=op.f("pk_usage_daily_user")
        ),
    )
    op.create_table(
        "interaction_contact",
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_interaction_contact_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interaction.id"],
            name=op.f("fk_interaction_contact_interaction_id_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "interaction_id", "contact_id", name=op.f("pk_interaction_contact")
        ),
    )
    with op.batch_alter_table("interaction_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interaction_contact_contact_id"), ["contact_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interaction_contact_contact_id"))

    op.drop_table("interaction_contact")
    op.drop_table("usage_daily_user")
    op.drop_table("usage_daily")
    op.drop_table("usage_active_user")
    op.drop_table("usage_account_day")
    with op.batch_alter_table("tracked_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracked_user_account_id"))

    op.drop_table("tracked_user")
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_type_occurred")
        batch_op.drop_index("ix_interaction_account_occurred")

    op.drop_table("interaction")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("uq_event_source_message")
        batch_op.drop_index("ix_event_received_at")
        batch_op.drop_index(
            "ix_event_pending_user",
            sqlite_where=sa.text("account_id IS NULL"),
            postgresql_where=sa.text("account_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_event_pending_group",
            sqlite_where=sa.text("account_id IS NULL"),
            postgresql_where=sa.text("account_id IS NULL"),
        )
        batch_op.drop_index("ix_event_account_occurred")

    op.drop_table("event")
    op.drop_table("account_activity")
    op.drop_table("source_daily_stat")
    with op.batch_alter_table("ingest_error", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_error_source_id"))

    op.drop_table("ingest_error")
    op.drop_table("source")
    op.drop_table("feature")
