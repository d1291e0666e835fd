"""usage presence bitmaps, event names and pushed peak days, for fast window measures

Also indexes for the scoring queries: usage_account_day by day (freshness), usage_peak_day by
day, and interactions by (type, occurred_at, account_id), which covers per-account counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00.000000+00:00
"""

from __future__ import annotations

from string import Template

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


#: Presence rows from the days of a rollup: each day sets a bit in its block's row and the next.
_BITS = Template(
    "INSERT INTO usage_presence (block, kind, account_id, item, days) "
    "SELECT block, '$kind', account_id, item, $agg(bit) FROM ("
    "SELECT account_id, item, n / 32 AS block, $one << (n % 32 + 32) AS bit "
    "FROM (SELECT account_id, $item AS item, $number AS n FROM $source) d "
    "UNION ALL SELECT account_id, item, n / 32 + 1, $one << (n % 32) "
    "FROM (SELECT account_id, $item AS item, $number AS n FROM $source) d"
    ") b GROUP BY block, account_id, item"
)


def _backfill(dialect: str) -> list[str]:
    """The rows the new tables hold for the rollups already stored (as
    ``app.usage.presence.rebuild_statements``, which a migration must not import)."""
    if dialect == "postgresql":
        number, one, agg = "(day - DATE '1970-01-01')", "CAST(1 AS BIGINT)", "bit_or"
    else:
        number, one, agg = "CAST(julianday(day) - 2440587.5 AS INTEGER)", "1", "sum"

    def bits(kind: str, item: str, source: str) -> str:
        return _BITS.substitute(kind=kind, item=item, source=source, number=number, one=one, agg=agg)

    return [
        bits("a", "''", "usage_account_day WHERE event_count > 0"),
        bits("e", "event", "usage_daily WHERE event_count > 0"),
        bits("u", "user_key", "usage_active_user"),
        "INSERT INTO usage_event_name (event) SELECT DISTINCT event FROM usage_daily",
        "INSERT INTO usage_peak_day (account_id, day) SELECT d.account_id, d.day "
        "FROM usage_account_day d WHERE d.active_users > (SELECT count(*) FROM usage_active_user u "
        "WHERE u.account_id = d.account_id AND u.day = d.day)",
    ]


def upgrade() -> None:
    op.create_table(
        "usage_presence",
        sa.Column("block", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=260), nullable=False),
        sa.Column("days", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('a', 'e', 'u')", name=op.f("ck_usage_presence_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_usage_presence_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("block", "kind", "account_id", "item", name=op.f("pk_usage_presence")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "usage_peak_day",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_usage_peak_day_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_usage_peak_day")),
    )
    with op.batch_alter_table("usage_peak_day", schema=None) as batch_op:
        batch_op.create_index("ix_usage_peak_day_day", ["day"], unique=False)

    op.create_table(
        "usage_event_name",
        sa.Column("event", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("event", name=op.f("pk_usage_event_name")),
    )
    with op.batch_alter_table("usage_account_day", schema=None) as batch_op:
        batch_op.create_index("ix_usage_account_day_day", ["day"], unique=False)
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_type_occurred")
        batch_op.create_index(
            "ix_interaction_type_occurred_account", ["type", "occurred_at", "account_id"], unique=False
        )

    for statement in _backfill(op.get_bind().dialect.name):
        op.execute(sa.text(statement))


def downgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_type_occurred_account")
        batch_op.create_index("ix_interaction_type_occurred", ["type", "occurred_at"], unique=False)
    with op.batch_alter_table("usage_account_day", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_account_day_day")

    op.drop_table("usage_event_name")
    with op.batch_alter_table("usage_peak_day", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_peak_day_day")

    op.drop_table("usage_peak_day")
    op.drop_table("usage_presence")
