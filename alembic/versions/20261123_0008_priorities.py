"""stages, signals, weekly priority lists and feedback

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 13:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "priority_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weights_version", sa.Integer(), nullable=False),
        sa.Column("weights", JSON_TYPE, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_list")),
        sa.UniqueConstraint("week", name=op.f("uq_priority_list_week")),
    )
    op.create_table(
        "rule_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("config", JSON_TYPE, nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('stages', 'signals', 'priorities')", name=op.f("ck_rule_set_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_set")),
    )
    op.create_index("uq_rule_set_kind_version", "rule_set", ["kind", "version"], unique=True)
    op.create_table(
        "account_signal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("first_on", sa.Date(), nullable=False),
        sa.Column("last_on", sa.Date(), nullable=False),
        sa.Column("cleared_on", sa.Date(), nullable=True),
        sa.Column("fired_data", JSON_TYPE, nullable=False),
        sa.Column("data", JSON_TYPE, nullable=False),
        sa.CheckConstraint(
            "kind IN ('onboarding_checkpoint', 'score_drop', 'renewal_window', 'no_meeting', 'champion_quiet', 'champion_left', 'nps_detractor', 'goals_unverified', 'usage_collapse', 'stale_data', 'disagreement')",
            name=op.f("ck_account_signal_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_signal_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_signal")),
    )
    op.create_index("ix_account_signal_account", "account_signal", ["account_id", "first_on"], unique=False)
    op.create_index("ix_account_signal_kind", "account_signal", ["kind", "cleared_on"], unique=False)
    op.create_index(
        "uq_account_signal_open",
        "account_signal",
        ["account_id", "kind"],
        unique=True,
        sqlite_where=sa.text("cleared_on IS NULL"),
        postgresql_where=sa.text("cleared_on IS NULL"),
    )
    op.create_table(
        "account_stage",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("since_on", sa.Date(), nullable=False),
        sa.Column("computed_on", sa.Date(), nullable=False),
        sa.Column("detail", JSON_TYPE, nullable=False),
        sa.CheckConstraint(
            "stage IN ('success', 'growth', 'rescue', 'mogura')", name=op.f("ck_account_stage_stage")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_stage_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_stage")),
    )
    op.create_index("ix_account_stage_stage", "account_stage", ["stage"], unique=False)
    op.create_table(
        "champion_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_champion_rating_rating")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_champion_rating_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user.id"],
            name=op.f("fk_champion_rating_author_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_champion_rating")),
    )
    op.create_index(
        "ix_champion_rating_account", "champion_rating", ["account_id", "created_at"], unique=False
    )
    op.create_table(
        "stage_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("previous", sa.String(length=8), nullable=True),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.Column("detail", JSON_TYPE, nullable=False),
        sa.CheckConstraint(
            "stage IN ('success', 'growth', 'rescue', 'mogura')", name=op.f("ck_stage_change_stage")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_stage_change_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_change")),
    )
    op.create_index("ix_stage_change_account", "stage_change", ["account_id", "changed_on"], unique=False)
    op.create_table(
        "priority_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("factors", JSON_TYPE, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=8), nullable=True),
        sa.Column("stage", sa.String(length=8), nullable=True),
        sa.Column("signals", JSON_TYPE, nullable=False),
        sa.Column("suppressed_reason", sa.String(length=24), nullable=True),
        sa.Column("suppressed_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_by", sa.String(length=320), nullable=True),
        sa.CheckConstraint(
            "reason IS NULL OR reason IN ('talked_offline', 'no_churn_risk', 'waiting_on_customer', 'other')",
            name=op.f("ck_priority_item_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'not_actionable')", name=op.f("ck_priority_item_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_priority_item_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interaction.id"],
            name=op.f("fk_priority_item_interaction_id_interaction"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["priority_list.id"],
            name=op.f("fk_priority_item_list_id_priority_list"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_priority_item_owner_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_item")),
    )
    op.create_index("ix_priority_item_owner", "priority_item", ["list_id", "owner_id", "rank"], unique=False)
    op.create_index("uq_priority_item_list_account", "priority_item", ["list_id", "account_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_priority_item_list_account", table_name="priority_item")
    op.drop_index("ix_priority_item_owner", table_name="priority_item")
    op.drop_table("priority_item")
    op.drop_index("ix_stage_change_account", table_name="stage_change")
    op.drop_table("stage_change")
    op.drop_index("ix_champion_rating_account", table_name="champion_rating")
    op.drop_table("champion_rating")
    op.drop_index("ix_account_stage_stage", table_name="account_stage")
    op.drop_table("account_stage")
    op.drop_index(
        "uq_account_signal_open",
        table_name="account_signal",
        sqlite_where=sa.text("cleared_on IS NULL"),
        postgresql_where=sa.text("cleared_on IS NULL"),
    )
    op.drop_index("ix_account_signal_kind", table_name="account_signal")
    op.drop_index("ix_account_signal_account", table_name="account_signal")
    op.drop_table("account_signal")
    op.drop_index("uq_rule_set_kind_version", table_name="rule_set")
    op.drop_table("rule_set")
    op.drop_table("priority_list")
