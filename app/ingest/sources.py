"""Sources of Segment-format traffic and their write keys, stats and error logs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.auth.security import digest, digest_matches, new_token, token_prefix
from app.db import table_of
from app.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from app.models import IngestError, Source, SourceDailyStat

WRITE_KEY_KIND = "bwk"


@dataclass(frozen=True)
class SourceStats:
    source: Source
    days: list[SourceDailyStat]


def create_source(session: Session, *, name: str, now: dt.datetime) -> tuple[Source, str]:
    """A new source and its write key; the key is returned once and only its digest is kept."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput.field("name", "must be 1 to 100 characters")
    if session.exec(select(Source).where(Source.name == name)).first() is not None:
        raise Conflict(f"a source named {name!r} already exists")
    prefix, key = new_token(WRITE_KEY_KIND)
    source = Source(name=name, key_prefix=prefix, key_hash=digest(key), created_at=now)
    session.add(source)
    session.flush()
    return source, key


def authenticate_write_key(session: Session, write_key: str) -> Source:
    """The live source behind a write key; 401 if unknown or revoked."""
    prefix = token_prefix(write_key)
    source = None
    if prefix is not None and "\x00" not in prefix:  # PostgreSQL text cannot hold NUL
        source = session.exec(select(Source).where(Source.key_prefix == prefix)).first()
    stored = source.key_hash if source is not None else digest("")
    if not digest_matches(write_key, stored) or source is None or source.revoked_at is not None:
        raise NotAuthenticated("invalid or revoked write key", scheme='Basic realm="bansou"')
    return source


_LIVE_SOURCE = sa_select(table_of(Source).c.id)


class WriteKeyCache:
    """Write keys verified once, remembered by their source's id: a later batch with the same
    key costs one primary-key read (is the source revoked now?) instead of a full check."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self.known: dict[str, int] = {}

    def source_id(self, session: Session, write_key: str) -> int:
        """The id of the live source behind a write key; 401 if unknown or revoked."""
        source_id = self.known.get(write_key)
        if source_id is None:
            source = authenticate_write_key(session, write_key)
            assert source.id is not None
            if len(self.known) >= self.size:  # only verified keys get here: a rotation at most
                self.known.clear()
            self.known[write_key] = source_id = source.id
            return source_id
        table = table_of(Source)  # Core on the connection: a tenth of the ORM path's cost
        live = (
            session.connection()
            .execute(_LIVE_SOURCE.where(table.c.id == source_id, table.c.revoked_at.is_(None)))
            .first()
        )
        if live is None:
            del self.known[write_key]
            raise NotAuthenticated("invalid or revoked write key", scheme='Basic realm="bansou"')
        return source_id


def list_sources(session: Session) -> list[Source]:
    return list(session.exec(select(Source).order_by(col(Source.id))).all())


def get_source(session: Session, ref: str | int) -> Source:
    """A source by id, name or key prefix."""
    source: Source | None
    if isinstance(ref, int) or str(ref).isdigit():
        source = session.get(Source, int(ref))
    else:
        source = session.exec(select(Source).where((Source.name == ref) | (Source.key_prefix == ref))).first()
    if source is None:
        raise NotFound(f"no source {ref}")
    return source


def revoke_source(session: Session, *, ref: str | int, now: dt.datetime) -> Source:
    """Revoke a source's write key: its traffic is refused with 401 from now on."""
    source = get_source(session, ref)
    if source.revoked_at is None:
        source.revoked_at = now
        session.add(source)
    return source


def source_stats(session: Session, *, ref: str | int, days: int = 30) -> SourceStats:
    """Accepted, rejected and duplicate counts per day, newest first."""
    source = get_source(session, ref)
    rows = session.exec(
        select(SourceDailyStat)
        .where(SourceDailyStat.source_id == source.id)
        .order_by(col(SourceDailyStat.day).desc())
        .limit(days)
    ).all()
    return SourceStats(source, list(rows))


def source_errors(session: Session, *, ref: str | int, limit: int = 100) -> list[IngestError]:
    """The source's most recent rejected messages, newest first."""
    source = get_source(session, ref)
    return list(
        session.exec(
            select(IngestError)
            .where(IngestError.source_id == source.id)
            .order_by(col(IngestError.id).desc())
            .limit(limit)
        ).all()
    )
