"""score storage: compact snapshots and faster full recompute

A score snapshot kept its whole explanation (about 2.3 KB of JSON per account and day); it now
keeps the measures' raw values in the definition's order (``measure_values``) and which of them
were stale (``stale_mask``, bit i for measure i). The explanation is a pure function of the
version's definition and those values, and is rebuilt when read.

Upgrade reads the values and stale flags out of each stored explanation (its groups and measures
are in the definition's order). Downgrade rebuilds each explanation from the snapshot's version
with the scoring core — the explanation the application serves for that snapshot.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 13:00:00.000000+00:00
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: Snapshots converted per round trip.
CHUNK = 2000


def _rows(column: str) -> Iterator[list[Any]]:
    """Every snapshot's key and ``column``, a chunk at a time, in key order."""
    bind = op.get_bind()
    after: tuple[Any, ...] | None = None
    while True:
        where = "" if after is None else (
            "WHERE (account_id > :a) OR (account_id = :a AND model_version_id > :v) "
            "OR (account_id = :a AND model_version_id = :v AND day > :d) "
        )
        params = {} if after is None else {"a": after[0], "v": after[1], "d": after[2]}
        chunk = bind.execute(sa.text(
            f"SELECT account_id, model_version_id, day, {column} FROM score_snapshot {where}"  # noqa: S608
            f"ORDER BY account_id, model_version_id, day LIMIT {CHUNK}"
        ), params).all()
        if not chunk:
            return
        yield [tuple(row) for row in chunk]
        after = tuple(chunk[-1][:3])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _json_param(column: str) -> str:
    return f"CAST(:{column} AS jsonb)" if op.get_bind().dialect.name == "postgresql" else f":{column}"


def upgrade() -> None:
    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("measure_values", JSON_TYPE, nullable=True))
        batch_op.add_column(sa.Column("stale_mask", sa.Integer(), nullable=True))

    update = sa.text(
        f"UPDATE score_snapshot SET measure_values = {_json_param('values')}, stale_mask = :stale "  # noqa: S608
        "WHERE account_id = :a AND model_version_id = :v AND day = :d"
    )
    for chunk in _rows("groups"):
        params = []
        for account_id, version_id, day, groups in chunk:
            measures = [m for g in _json(groups) for m in g.get("measures", [])]
            stale = sum(1 << i for i, m in enumerate(measures) if m.get("status") == "stale")
            params.append({"a": account_id, "v": version_id, "d": day, "stale": stale,
                           "values": json.dumps([m.get("value") for m in measures])})
        op.get_bind().execute(update, params)

    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.alter_column("measure_values", existing_type=JSON_TYPE, nullable=False)
        batch_op.alter_column("stale_mask", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("groups")


def downgrade() -> None:
    # The explanation is the scoring core's function of the definition and the values; a frozen
    # copy of the core here would give back a different explanation from the one served.
    from app.health.spec import ModelSpec, to_model_def
    from app.scoring.health import explain_group, row_inputs, score

    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("groups", JSON_TYPE, nullable=True))

    bind = op.get_bind()
    models = {}
    for version_id, definition in bind.execute(
        sa.text("SELECT id, definition FROM health_model_version")
    ).all():
        spec = ModelSpec.model_validate(_json(definition))
        models[version_id] = (to_model_def(spec), {m.key: m.window_days for m in spec.measures()})
    update = sa.text(
        f"UPDATE score_snapshot SET groups = {_json_param('groups')} "  # noqa: S608
        "WHERE account_id = :a AND model_version_id = :v AND day = :d"
    )
    for chunk in _rows("measure_values, stale_mask"):
        params = []
        for account_id, version_id, day, values, stale in chunk:
            model, windows = models[version_id]
            on = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
            result = score(model, row_inputs(model, _json(values), stale, as_of=on), as_of=on)
            groups = [explain_group(g, windows) for g in result.groups]
            params.append({"a": account_id, "v": version_id, "d": day,
                           "groups": json.dumps(groups, ensure_ascii=False)})
        bind.execute(update, params)

    with op.batch_alter_table("score_snapshot", schema=None) as batch_op:
        batch_op.alter_column("groups", existing_type=JSON_TYPE, nullable=False)
        batch_op.drop_column("stale_mask")
        batch_op.drop_column("measure_values")
