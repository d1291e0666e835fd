"""Sources of Segment-format traffic: write keys, daily stats, error logs, pending events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, SessionDep
from app.ingest import dead_letters
from app.ingest import pending as ingest_pending
from app.ingest import sources as svc
from app.ingest.schemas import (
    DayStat,
    DeadLetterPublic,
    IngestErrorPublic,
    PendingSummary,
    Replayed,
    ReplayIn,
    SourceCreate,
    SourceCreated,
    SourcePublic,
    SourceStatsPublic,
)
from app.models import Source
from app.pagination import Page
from app.types import DbId

router = APIRouter(tags=["sources"], responses=ERRORS)


def _public(source: Source) -> SourcePublic:
    return SourcePublic.model_validate(source, from_attributes=True)


@router.get("/sources", response_model=Page[SourcePublic])
def list_sources(session: SessionDep, _key: AdminKeyDep) -> Page[SourcePublic]:
    """All sources with their last event and last error."""
    return Page(data=[_public(s) for s in svc.list_sources(session)])


@router.post(
    "/sources", status_code=status.HTTP_201_CREATED, response_model=SourceCreated,
    responses={**CONFLICT, **BODY},
)
def create_source(
    source_in: SourceCreate, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> SourceCreated:
    """Create a source; the response holds its write key, shown this once."""
    source, key = svc.create_source(session, name=source_in.name, now=now)
    return SourceCreated(**_public(source).model_dump(), write_key=key)


@router.delete("/sources/{source_id}", response_model=SourcePublic, responses=NOT_FOUND)
def revoke_source(
    source_id: DbId, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> SourcePublic:
    """Revoke a source's write key."""
    return _public(svc.revoke_source(session, ref=source_id, now=now))


@router.get("/sources/{source_id}/stats", response_model=SourceStatsPublic, responses=NOT_FOUND)
def source_stats(
    source_id: DbId, session: SessionDep, _key: AdminKeyDep,
    days: Annotated[int, Query(ge=1, le=400)] = 30,
) -> SourceStatsPublic:
    """Accepted, rejected and duplicate messages per day, newest first."""
    stats = svc.source_stats(session, ref=source_id, days=days)
    return SourceStatsPublic(
        source=_public(stats.source),
        days=[DayStat.model_validate(d, from_attributes=True) for d in stats.days],
    )


@router.get(
    "/sources/{source_id}/errors", response_model=Page[IngestErrorPublic], responses=NOT_FOUND
)
def source_errors(
    source_id: DbId, session: SessionDep, _key: AdminKeyDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[IngestErrorPublic]:
    """The source's latest rejected messages and why."""
    rows = svc.source_errors(session, ref=source_id, limit=limit)
    return Page(data=[IngestErrorPublic.model_validate(r, from_attributes=True) for r in rows])


@router.get(
    "/sources/{source_id}/dead-letters", response_model=Page[DeadLetterPublic], responses=NOT_FOUND
)
def source_dead_letters(
    source_id: DbId, session: SessionDep, _key: AdminKeyDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[DeadLetterPublic]:
    """The source's messages the applier could not store, newest first (replay them after a fix)."""
    rows = dead_letters.dead_letters(session, ref=source_id, limit=limit)
    return Page(
        data=[
            DeadLetterPublic(
                id=r.id or 0, received_at=r.received_at, set_aside_at=r.set_aside_at,
                message_id=r.message_id, reason=r.reason, params=r.params,
                message=r.message.decode(errors="replace"),
            )
            for r in rows
        ]
    )


@router.post(
    "/sources/{source_id}/dead-letters/replay", response_model=Replayed, responses={**NOT_FOUND, **BODY}
)
def replay_dead_letters(
    source_id: DbId, replay_in: ReplayIn, session: SessionDep, _key: AdminKeyDep
) -> Replayed:
    """Put the source's set-aside messages (all, or ``ids``) back in the ingestion log."""
    return Replayed(replayed=dead_letters.replay(session, ref=source_id, ids=replay_in.ids))


@router.get("/ingest/pending", response_model=PendingSummary)
def pending(
    session: SessionDep, _key: AdminKeyDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Any:
    """Usage not in the rollups yet: events waiting for their account (never dropped, shown
    here until attributed) and accepted batches still queued for the applier."""
    return ingest_pending.pending_summary(session, limit=limit)
