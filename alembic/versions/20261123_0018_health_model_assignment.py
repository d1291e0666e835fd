"""health model assignments: the ordered rules that give each account its primary health model

Each row is one rule (a code and its parameters: segment, industry, plan, trait value, ARR at
least or below) naming a model; the first rule an account matches gives its primary model, and
an account matching none is on the default model.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 10:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "health_model_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("params", JSON_TYPE, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rule IN ('segment', 'industry', 'plan', 'trait', 'arr_at_least', 'arr_below')",
            name=op.f("ck_health_model_assignment_rule"),
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["health_model.id"],
            name=op.f("fk_health_model_assignment_model_id_health_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_model_assignment")),
    )
    with op.batch_alter_table("health_model_assignment", schema=None) as batch_op:
        batch_op.create_index("uq_health_model_assignment_position", ["position"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("health_model_assignment", schema=None) as batch_op:
        batch_op.drop_index("uq_health_model_assignment_position")
    op.drop_table("health_model_assignment")
