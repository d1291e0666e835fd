"""The email outbox: emails written with the action that caused them, delivered by a sender job.

States: ``queued`` → ``sending`` (claimed) → ``sent``, or back to ``queued`` with a later
``next_attempt_at`` after a transient failure (exponential backoff: 1, 2, 4 … minutes, at most
6 hours, ``MAX_ATTEMPTS`` in all), or ``failed`` after a permanent one (5xx; the server's answer is
kept in ``last_error`` and an admin can queue it again).

Claiming is one UPDATE whose WHERE names the claimable states, so of two processes claiming at
once only one changes a given row (on PostgreSQL the second re-checks the WHERE on the row the
first updated and skips it; SQLite runs one writer at a time). The claim carries a random token
and a lease (``LEASE``); marking the row sent or retried requires the token.

What we guarantee: a row is never delivered by two senders at once, and it is delivered again only
if its sender died (or lost the database) after the SMTP server accepted it but before the row was
marked sent — then, once the lease ends, the row is claimed again and re-sent with the **same
Message-ID** (fixed when the row was written), so receivers that dedupe by Message-ID see one
message. No SMTP protocol can do better: the acceptance and our commit are not one transaction.
The lease (5 minutes) is ten times the SMTP timeout, so a live sender never loses its claim.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app.db import dialect_insert, session_scope, table_of
from app.errors import Conflict, NotFound
from app.models_reports import Outbox
from app.services import mailer

log = logging.getLogger("bansou.outbox")

OUTBOX = table_of(Outbox)
LEASE = dt.timedelta(minutes=5)
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=6)
MAX_ATTEMPTS = 10
BATCH = 20


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed try: 1 → 1 min, 2 → 2 min, 5 → 16 min, 10 → 6 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def enqueue(
    session: Session, *, kind: str, to: str, subject: str, text: str, html: str | None,
    mail_from: str, now: dt.datetime, account_id: int | None = None, dedupe_key: str | None = None,
) -> Outbox | None:
    """Queue one email in the caller's transaction; None if ``dedupe_key`` was already queued."""
    values = {
        "kind": kind, "account_id": account_id, "dedupe_key": dedupe_key, "to_addr": to,
        "subject": subject, "text_body": text, "html_body": html,
        "message_id": mailer.new_message_id(mail_from), "state": "queued", "attempts": 0,
        "next_attempt_at": now, "created_at": now, "updated_at": now,
    }
    insert = dialect_insert(session, OUTBOX).values(**values)
    if dedupe_key is not None:
        insert = insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
    new_id = session.execute(insert.returning(OUTBOX.c.id)).scalar_one_or_none()
    if new_id is None:
        return None
    return session.get(Outbox, new_id)


def get(session: Session, outbox_id: int) -> Outbox:
    row = session.get(Outbox, outbox_id)
    if row is None:
        raise NotFound(f"no outbox message {outbox_id}")
    return row


def list_messages(session: Session, *, state: str | None = None, limit: int = 100) -> list[Outbox]:
    """The newest messages first, optionally in one state."""
    query = select(Outbox).order_by(col(Outbox.id).desc()).limit(limit)
    if state:
        query = query.where(col(Outbox.state) == state)
    return list(session.execute(query).scalars().all())


def counts(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)).all()
    return {state: n for state, n in rows}


def retry(session: Session, *, outbox_id: int, now: dt.datetime) -> Outbox:
    """Queue a failed message again, due now (attempts start over)."""
    row = get(session, outbox_id)
    if row.state != "failed":
        raise Conflict(f"outbox message {outbox_id} is {row.state}; only failed messages retry")
    row.state, row.attempts, row.next_attempt_at = "queued", 0, now
    row.last_error, row.updated_at = None, now
    session.add(row)
    session.flush()
    return row


def _claimable(now: dt.datetime) -> object:
    return or_(
        and_(OUTBOX.c.state == "queued", OUTBOX.c.next_attempt_at <= now),
        and_(OUTBOX.c.state == "sending", OUTBOX.c.claimed_until < now),
    )


def claim(session: Session, *, now: dt.datetime, limit: int = BATCH) -> list[Outbox]:
    """Atomically take up to ``limit`` due messages (and ones whose sender's lease ran out)."""
    token = secrets.token_hex(16)
    due = (
        select(OUTBOX.c.id).where(_claimable(now))  # type: ignore[arg-type]
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit)
    )
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()), _claimable(now))  # type: ignore[arg-type]
        .values(state="sending", claim_token=token, claimed_until=now + LEASE,
                attempts=OUTBOX.c.attempts + 1, updated_at=now)
    )
    session.flush()
    return list(session.execute(
        select(Outbox).where(col(Outbox.claim_token) == token).order_by(col(Outbox.id))
        .execution_options(populate_existing=True)
    ).scalars().all())


def _finish(session: Session, row: Outbox, now: dt.datetime, **values: object) -> bool:
    done = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == row.id, OUTBOX.c.claim_token == row.claim_token,
               OUTBOX.c.state == "sending")
        .values(updated_at=now, claimed_until=None, **values)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        log.warning("outbox message %s was reclaimed after its lease ran out", row.id)
    return bool(done.rowcount)  # type: ignore[attr-defined]


def mark_sent(session: Session, row: Outbox, *, now: dt.datetime) -> bool:
    return _finish(session, row, now, state="sent", sent_at=now, last_error=None)


def mark_transient(session: Session, row: Outbox, *, error: str, now: dt.datetime) -> bool:
    if row.attempts >= MAX_ATTEMPTS:
        return _finish(session, row, now, state="failed",
                       last_error=f"gave up after {row.attempts} attempts: {error}")
    return _finish(session, row, now, state="queued", last_error=error,
                   next_attempt_at=now + backoff(row.attempts))


def mark_failed(session: Session, row: Outbox, *, error: str, now: dt.datetime) -> bool:
    return _finish(session, row, now, state="failed", last_error=error)


@dataclass
class SendResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def send_due(
    engine: Engine, *, smtp_url: str, mail_from: str, now: dt.datetime, limit: int = BATCH,
) -> SendResult:
    """Claim due messages (one transaction), deliver each, mark each (one transaction per row)."""
    config = mailer.SmtpConfig.from_url(smtp_url)
    result = SendResult()
    if config is None:
        return result
    with session_scope(engine) as session:
        rows = claim(session, now=now, limit=limit)
    result.claimed = len(rows)
    for row in rows:
        mail = mailer.Mail(row.to_addr, row.subject, row.text_body, row.html_body, row.message_id)
        message = mailer.build_message(mail, mail_from=mail_from, date=row.created_at)
        try:
            _run(mailer.deliver(config, message))
        except mailer.Permanent as exc:
            with session_scope(engine) as session:
                mark_failed(session, row, error=str(exc), now=now)
            result.failed += 1
        except mailer.Transient as exc:
            with session_scope(engine) as session:
                mark_transient(session, row, error=str(exc), now=now)
            result.retrying += 1
        else:
            with session_scope(engine) as session:
                mark_sent(session, row, now=now)
            result.sent += 1
    return result


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end from sync code, also when this thread already runs an event
    loop (the scheduler's, or a test's): then in a fresh loop on a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
