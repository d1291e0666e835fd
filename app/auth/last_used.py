"""When each API key and browser session was last used, noted without a write on the request path.

A request that only reads must not write: on SQLite every write waits for (or, read-then-write,
fails against) every other writer, so a GET that stamps ``last_used_at`` turns into a 503 as soon
as the database is busy. A request therefore notes the time here, in the process's memory, and
``flush`` writes what was noted in one short transaction of its own: every ``FLUSH_EVERY`` (the
server's background task) and when the server stops.

What is shown (``key_last_used``, ``session_last_seen``) is the later of the stored and the noted
time: exact for the requests this process served, at most ``FLUSH_EVERY`` behind for another
process's (e.g. a key used at 10:00:05 through another worker shows 10:00:05 by 10:01:05). A crash
loses at most the last ``FLUSH_EVERY`` of notes; the idle timeout of a session (8 hours) and a
key's last-used time (to spot unused keys) both tolerate that.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from sqlalchemy import Table, bindparam, or_, update
from sqlmodel import Session

from app.db import table_of
from app.models import ApiKey, WebSession

#: How often the notes are written: at most one short write transaction a minute per process.
FLUSH_EVERY = dt.timedelta(minutes=1)


class LastUsed:
    """The process's notes of last use, by API key id and by web session id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[int, dt.datetime] = {}
        self._sessions: dict[int, dt.datetime] = {}

    def note_key(self, key_id: int, at: dt.datetime) -> None:
        """Record that the key authenticated a request at ``at``."""
        with self._lock:
            if key_id not in self._keys or self._keys[key_id] < at:
                self._keys[key_id] = at

    def note_session(self, session_id: int, at: dt.datetime) -> None:
        """Record that the browser session made a request at ``at``."""
        with self._lock:
            if session_id not in self._sessions or self._sessions[session_id] < at:
                self._sessions[session_id] = at

    def key_last_used(self, key: ApiKey) -> dt.datetime | None:
        """The later of the key's stored and noted last use."""
        return _later(key.last_used_at, self._keys.get(key.id) if key.id is not None else None)

    def session_last_seen(self, web_session: WebSession) -> dt.datetime:
        """The later of the session's stored and noted last request."""
        noted = self._sessions.get(web_session.id) if web_session.id is not None else None
        return _later(web_session.last_seen_at, noted) or web_session.last_seen_at

    @contextlib.contextmanager
    def taken(self) -> Iterator[tuple[dict[int, dt.datetime], dict[int, dt.datetime]]]:
        """The notes (by key id, by session id), taken out to be written in the block; put back
        for the next turn (unless newer notes came in meanwhile) if the block fails, its commit
        included."""
        with self._lock:
            keys, self._keys = self._keys, {}
            sessions, self._sessions = self._sessions, {}
        try:
            yield keys, sessions
        except BaseException:
            with self._lock:
                for key_id, at in keys.items():
                    self._keys[key_id] = max(at, self._keys.get(key_id, at))
                for session_id, at in sessions.items():
                    self._sessions[session_id] = max(at, self._sessions.get(session_id, at))
            raise


def store(session: Session, keys: dict[int, dt.datetime], sessions: dict[int, dt.datetime]) -> int:
    """Write taken notes (never moving a stored time back); how many rows were noted."""
    _store(session, table_of(ApiKey), "last_used_at", keys)
    _store(session, table_of(WebSession), "last_seen_at", sessions)
    return len(keys) + len(sessions)


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _store(session: Session, table: Table, column: str, noted: dict[int, dt.datetime]) -> None:
    if not noted:
        return
    target = table.c[column]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"), or_(target.is_(None), target < bindparam("at")))
        .values({column: bindparam("at")})
    )
    session.connection().execute(
        statement, [{"row_id": row_id, "at": at} for row_id, at in sorted(noted.items())]
    )
