"""health

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:25:36.422448+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "health_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("preset", sa.String(length=32), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_model")),
        sa.UniqueConstraint("name", name=op.f("uq_health_model_name")),
    )
    op.create_table(
        "health_model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("definition", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft', 'published', 'retired')", name=op.f("ck_health_model_version_state")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["health_model.id"],
            name=op.f("fk_health_model_version_model_id_health_model"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_model_version")),
    )
    with op.batch_alter_table("health_model_version", schema=None) as batch_op:
        batch_op.create_index("uq_health_model_version", ["model_id", "version"], unique=True)

    op.create_table(
        "score_dirty",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_score_dirty_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_score_dirty")),
    )
    op.create_table(
        "score_snapshot",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("groups", JSON_TYPE, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_score_snapshot_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["health_model_version.id"],
            name=op.f("fk_score_snapshot_model_version_id_health_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "model_version_id", "day", name=op.f("pk_score_snapshot")),
    )
    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.create_index("ix_score_snapshot_version_day", ["model_version_id", "day"], unique=False)

    op.create_table(
        "sentiment_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_sentiment_rating_rating")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_sentiment_rating_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user.id"],
            name=op.f("fk_sentiment_rating_author_user_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentiment_rating")),
    )
    with op.batch_alter_table("sentiment_rating", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentiment_rating_account_created", ["account_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sentiment_rating", schema=None) as batch_op:
        batch_op.drop_index("ix_sentiment_rating_account_created")

    op.drop_table("sentiment_rating")
    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_score_snapshot_version_day")

    op.drop_table("score_snapshot")
    op.drop_table("score_dirty")
    with op.batch_alter_table("health_model_version", schema=None) as batch_op:
        batch_op.drop_index("uq_health_model_version")

    op.drop_table("health_model_version")
    op.drop_table("health_model")
