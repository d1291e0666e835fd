"""industry tiers, account history, playbooks and tasks

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 13:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN_RULE_TASK = "status IN ('open', 'snoozed') AND rule_key IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "account_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("arr_before", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("arr_after", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('contract_start', 'renewal', 'churn', 'arr_change')",
            name=op.f("ck_account_history_kind"),
        ),
        sa.CheckConstraint(
            "source IN ('account', 'import', 'demo')", name=op.f("ck_account_history_source")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_account_history_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_history")),
    )
    with op.batch_alter_table("account_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_history_kind_occurred", ["kind", "occurred_on", "account_id"], unique=False
        )
        batch_op.create_index(
            "uq_account_history_event", ["account_id", "kind", "occurred_on"], unique=True
        )

    op.create_table(
        "industry_override",
        sa.Column("industry", sa.String(length=100), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=320), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tier BETWEEN 1 AND 4", name=op.f("ck_industry_override_tier")),
        sa.PrimaryKeyConstraint("industry", name=op.f("pk_industry_override")),
    )
    op.create_table(
        "industry_tier_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_industry_tier_config")),
    )
    op.create_table(
        "playbook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook")),
        sa.UniqueConstraint("name", name=op.f("uq_playbook_name")),
    )
    op.create_table(
        "playbook_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", JSON_TYPE, nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("published_by", sa.String(length=320), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["playbook_id"], ["playbook.id"], name=op.f("fk_playbook_version_playbook_id_playbook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_version")),
    )
    with op.batch_alter_table("playbook_version", schema=None) as batch_op:
        batch_op.create_index("uq_playbook_version", ["playbook_id", "version"], unique=True)

    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=True),
        sa.Column("playbook_version", sa.Integer(), nullable=True),
        sa.Column("rule_key", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("snoozed_until", sa.Date(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=500), nullable=True),
        sa.Column("closed_by", sa.String(length=320), nullable=True),
        sa.Column("basis", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'snoozed' OR snoozed_until IS NOT NULL", name=op.f("ck_task_snoozed_until")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'snoozed', 'closed')", name=op.f("ck_task_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_task_account_id_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["user.id"], name=op.f("fk_task_assignee_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interaction.id"], name=op.f("fk_task_interaction_id_interaction"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"], ["playbook.id"], name=op.f("fk_task_playbook_id_playbook"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_account_status", ["account_id", "status"], unique=False)
        batch_op.create_index(
            "ix_task_assignee_status_due", ["assignee_id", "status", "due_on"], unique=False
        )
        batch_op.create_index("ix_task_status_due", ["status", "due_on"], unique=False)
        batch_op.create_index(
            "uq_task_open_rule", ["account_id", "playbook_id", "rule_key"], unique=True,
            sqlite_where=sa.text(OPEN_RULE_TASK), postgresql_where=sa.text(OPEN_RULE_TASK),
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_task_open_rule",
            sqlite_where=sa.text(OPEN_RULE_TASK), postgresql_where=sa.text(OPEN_RULE_TASK),
        )
        batch_op.drop_index("ix_task_status_due")
        batch_op.drop_index("ix_task_assignee_status_due")
        batch_op.drop_index("ix_task_account_status")

    op.drop_table("task")
    with op.batch_alter_table("playbook_version", schema=None) as batch_op:
        batch_op.drop_index("uq_playbook_version")

    op.drop_table("playbook_version")
    op.drop_table("playbook")
    op.drop_table("industry_tier_config")
    op.drop_table("industry_override")
    with op.batch_alter_table("account_history", schema=None) as batch_op:
        batch_op.drop_index("uq_account_history_event")
        batch_op.drop_index("ix_account_history_kind_occurred")

    op.drop_table("account_history")
