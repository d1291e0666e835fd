"""Operational checks: is the database reachable, and is its schema at the code's head?"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import migrations


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str  # "ok" or the error
    schema_revision: str | None
    head_revision: str | None


def readiness(engine: Engine, database_url: str) -> Readiness:
    """Whether this process can serve: the database answers and its schema is at head."""
    head = migrations.head_revision(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrations.current_revision(engine)
    except Exception as exc:  # any driver error means "not ready"; the reason goes to the body
        return Readiness(False, f"unreachable: {type(exc).__name__}", None, head)
    return Readiness(current == head, "ok", current, head)
