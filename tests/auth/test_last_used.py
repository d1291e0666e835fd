"""Last use of API keys and browser sessions: noted in memory, written in short transactions,
and never lost to a write that fails."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from app import scheduler
from app.auth import api_keys
from app.auth.last_used import LastUsed
from app.models import ApiKey
from tests.builders import AS_OF


def _key(engine: Engine) -> int:
    with Session(engine) as session:
        key, _ = api_keys.create_api_key(session, name="reader", scope="read", now=AS_OF)
        session.commit()
        assert key.id is not None
        return key.id


def _stored(engine: Engine, key_id: int) -> ApiKey:
    with Session(engine) as session:
        return session.exec(select(ApiKey).where(ApiKey.id == key_id)).one()


def test_notes_survive_a_flush_whose_commit_fails(engine: Engine) -> None:
    key_id = _key(engine)
    notes = LastUsed()
    used_at = AS_OF.replace(hour=12)
    notes.note_key(key_id, used_at)

    def refuse(session: OrmSession) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(OrmSession, "before_commit", refuse)
    try:
        with pytest.raises(OperationalError):
            scheduler.flush_last_used(engine, notes)
    finally:
        event.remove(OrmSession, "before_commit", refuse)
    assert _stored(engine, key_id).last_used_at is None  # nothing was written…

    assert scheduler.flush_last_used(engine, notes) == 1  # …and the note was kept for the next turn
    assert _stored(engine, key_id).last_used_at == used_at
    assert scheduler.flush_last_used(engine, notes) == 0
