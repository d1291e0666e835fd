"""adoption reports, the email outbox, scheduled sends and tech-touch check-ins

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 14:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "email_template",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("key", "language", name=op.f("pk_email_template")),
    )
    op.create_table(
        "adoption_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", JSON_TYPE, nullable=False),
        sa.Column("recipients", JSON_TYPE, nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_adoption_report_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_report")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_adoption_report_dedupe_key")),
    )
    with op.batch_alter_table("adoption_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adoption_report_account_id"), ["account_id"],
                              unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("to_addr", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at"),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        _at("claimed_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("sent_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint("kind IN ('report', 'checkin', 'digest', 'other')",
                           name=op.f("ck_outbox_kind")),
        sa.CheckConstraint("state IN ('queued', 'sending', 'sent', 'failed')",
                           name=op.f("ck_outbox_state")),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_outbox_account_id_account"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_outbox_state_next_attempt", ["state", "next_attempt_at"],
                              unique=False)
    op.create_table(
        "report_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=False),
        sa.Column("recipients", JSON_TYPE, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _at("created_at"),
        sa.CheckConstraint("cadence IN ('monthly', 'quarterly')",
                           name=op.f("ck_report_schedule_cadence")),
        sa.CheckConstraint("day_of_month BETWEEN 1 AND 28",
                           name=op.f("ck_report_schedule_day_of_month")),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_report_schedule_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedule")),
    )
    with op.batch_alter_table("report_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_schedule_account_id"), ["account_id"],
                              unique=False)
    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        _at("sent_at"),
        sa.Column("answer", sa.String(length=16), nullable=True),
        _at("answered_at", nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("answer IS NULL OR answer IN ('done', 'on_track', 'problem')",
                           name=op.f("ck_checkin_answer")),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"],
                                name=op.f("fk_checkin_account_id_account"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"],
                                name=op.f("fk_checkin_contact_id_contact"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["interaction_id"], ["interaction.id"],
                                name=op.f("fk_checkin_interaction_id_interaction"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin")),
        sa.UniqueConstraint("account_id", name=op.f("uq_checkin_account_id")),
    )


def downgrade() -> None:
    op.drop_table("checkin")
    with op.batch_alter_table("report_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_schedule_account_id"))
    op.drop_table("report_schedule")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_next_attempt")
        batch_op.drop_index(batch_op.f("ix_outbox_account_id"))
    op.drop_table("outbox")
    with op.batch_alter_table("adoption_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adoption_report_account_id"))
    op.drop_table("adoption_report")
    op.drop_table("email_template")
