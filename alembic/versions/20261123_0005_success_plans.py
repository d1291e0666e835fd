"""success plans: plans, goals, steps, goal progress, audit trail and plan events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
#: The lead re-chains at integration; 0004 (usage presence) was the head when this was written.
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "plan_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=8), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("before", JSON_TYPE, nullable=True),
        sa.Column("after", JSON_TYPE, nullable=True),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'delete', 'verify', 'auto')", name=op.f("ck_plan_audit_action")
        ),
        sa.CheckConstraint("entity_type IN ('plan', 'goal', 'step')", name=op.f("ck_plan_audit_entity_type")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_plan_audit_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_audit")),
    )
    with op.batch_alter_table("plan_audit", schema=None) as batch_op:
        batch_op.create_index("ix_plan_audit_account", ["account_id", "at"], unique=False)
        batch_op.create_index("ix_plan_audit_plan", ["plan_id", "id"], unique=False)

    op.create_table(
        "success_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("objective", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("customer_owner_id", sa.Integer(), nullable=True),
        sa.Column("start_on", sa.Date(), nullable=True),
        sa.Column("target_on", sa.Date(), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'completed', 'archived')", name=op.f("ck_success_plan_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_success_plan_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_owner_id"],
            ["contact.id"],
            name=op.f("fk_success_plan_customer_owner_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_success_plan_owner_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_success_plan")),
    )
    with op.batch_alter_table("success_plan", schema=None) as batch_op:
        batch_op.create_index("ix_success_plan_account", ["account_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_success_plan_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "uq_success_plan_active",
            ["account_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "plan_goal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=200), nullable=True),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("metric_source", JSON_TYPE, nullable=True),
        sa.Column("success_criterion", sa.Text(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("achieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_verified_by", sa.String(length=320), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('quantitative', 'qualitative')", name=op.f("ck_plan_goal_kind")),
        sa.CheckConstraint("priority IN ('high', 'medium', 'low')", name=op.f("ck_plan_goal_priority")),
        sa.CheckConstraint(
            "status IN ('not_started', 'on_track', 'at_risk', 'achieved', 'dropped')",
            name=op.f("ck_plan_goal_status"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["success_plan.id"],
            name=op.f("fk_plan_goal_plan_id_success_plan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_goal")),
    )
    with op.batch_alter_table("plan_goal", schema=None) as batch_op:
        batch_op.create_index("ix_plan_goal_plan", ["plan_id", "position"], unique=False)
        batch_op.create_index("ix_plan_goal_status", ["status"], unique=False)

    op.create_table(
        "plan_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.CheckConstraint("kind IN ('goal_achieved', 'goal_at_risk')", name=op.f("ck_plan_event_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_plan_event_account_id_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["plan_goal.id"], name=op.f("fk_plan_event_goal_id_plan_goal"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_event")),
    )
    with op.batch_alter_table("plan_event", schema=None) as batch_op:
        batch_op.create_index("ix_plan_event_account", ["account_id", "at"], unique=False)
        batch_op.create_index("ix_plan_event_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_event_goal_id"), ["goal_id"], unique=False)

    op.create_table(
        "plan_goal_progress",
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"],
            ["plan_goal.id"],
            name=op.f("fk_plan_goal_progress_goal_id_plan_goal"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("goal_id", "day", name=op.f("pk_plan_goal_progress")),
    )
    op.create_table(
        "plan_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["plan_goal.id"], name=op.f("fk_plan_step_goal_id_plan_goal"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_step")),
    )
    with op.batch_alter_table("plan_step", schema=None) as batch_op:
        batch_op.create_index("ix_plan_step_goal", ["goal_id", "position"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("plan_step", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_step_goal")

    op.drop_table("plan_step")
    op.drop_table("plan_goal_progress")
    with op.batch_alter_table("plan_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_event_goal_id"))
        batch_op.drop_index("ix_plan_event_at")
        batch_op.drop_index("ix_plan_event_account")

    op.drop_table("plan_event")
    with op.batch_alter_table("plan_goal", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_goal_status")
        batch_op.drop_index("ix_plan_goal_plan")

    op.drop_table("plan_goal")
    with op.batch_alter_table("success_plan", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_success_plan_active",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_success_plan_owner_id"))
        batch_op.drop_index("ix_success_plan_account")

    op.drop_table("success_plan")
    with op.batch_alter_table("plan_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_audit_plan")
        batch_op.drop_index("ix_plan_audit_account")

    op.drop_table("plan_audit")
