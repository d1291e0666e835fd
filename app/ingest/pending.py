"""What is not in the rollups yet: acknowledged batches the applier has not stored (the log's
backlog) and usage events waiting for an account to be attributed to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session

from app.db import table_of
from app.ingest import dead_letters
from app.ingest.segment import USAGE_TYPES
from app.models import Event, IngestBatch

EVENT = table_of(Event)
LOG = table_of(IngestBatch)


@dataclass(frozen=True)
class Backlog:
    """What the log holds: acknowledged batches not applied yet."""

    batches: int
    messages: int
    oldest_received_at: dt.datetime | None


def backlog(session: Session) -> Backlog:
    """The ingestion log's size and age (its oldest batch is how far the applier lags)."""
    batches, messages, oldest = session.execute(
        select(func.count(), func.coalesce(func.sum(LOG.c.messages), 0), func.min(LOG.c.received_at))
    ).one()
    return Backlog(batches, int(messages), oldest)


def pending_summary(session: Session, *, limit: int = 50) -> dict[str, Any]:
    """What is not in the rollups yet: usage events waiting for an account (how many, since
    when, from whom), acknowledged batches the applier has not stored yet (``queued``) and
    whether it is failing or has set messages aside (``applier``)."""
    pending = and_(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES))
    total, oldest = session.execute(select(func.count(), func.min(EVENT.c.received_at)).where(pending)).one()
    who = func.coalesce(EVENT.c.user_id, "anon:" + func.coalesce(EVENT.c.anonymous_id, ""))
    rows = session.execute(
        select(
            who.label("who"),
            EVENT.c.group_id,
            func.count().label("n"),
            func.min(EVENT.c.received_at).label("oldest"),
        )
        .where(pending)
        .group_by(who, EVENT.c.group_id)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    queued = backlog(session)
    health = dead_letters.applier_health(session)
    return {
        "queued": {
            "batches": queued.batches,
            "messages": queued.messages,
            "oldest_received_at": queued.oldest_received_at,
        },
        "applier": {
            "failing_since": health.failing_since,
            "last_failure_at": health.last_failure_at,
            "failures": health.failures,
            "error": health.error,
            "set_aside": health.set_aside,
        },
        "pending_events": total,
        "oldest_received_at": oldest,
        "by_user": [
            {
                "user": w,
                "group_id": g,
                "events": n,
                "oldest_received_at": o if o is None or o.tzinfo else o.replace(tzinfo=dt.UTC),
            }
            for w, g, n, o in rows
        ],
    }
