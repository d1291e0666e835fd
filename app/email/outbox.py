"""The email outbox: emails written with the action that caused them, delivered by a sender job.

States: ``queued`` → ``sending`` (claimed) → ``sent``, or back to ``queued`` with a later
``next_attempt_at``, or ``failed``:
- the server answered 4xx about this message: exponential backoff (1, 2, 4 … minutes, at most
  6 hours, ``MAX_ATTEMPTS`` in all), then ``failed``;
- the server was unreachable (refused, timed out, dropped the connection, 421): nothing is wrong
  with the message, so the try is not counted; the sender stops and the message is due again
  after ``outbox_outage_retry_seconds`` (60), so once the server is back the queue drains from
  the next run on, however long the outage was;
- a permanent answer (5xx): ``failed`` at once, the answer kept in ``last_error`` (an admin can
  queue it again);
- an automated email whose ``send_by`` passed (its check-in window or its schedule's grace period
  ended while it waited): ``failed``, never delivered late.

Order and pace: a person's send (``PRIORITY_PERSON``: *Send now*, the API) goes before bulk mail
(check-ins, scheduled reports, digests), then the oldest due first; at most
``outbox_rate_per_minute`` messages are handed to the server in any minute (counted from
``sent_at``, so the scheduler's runs, the prompt run after a *Send now* and other processes share
it).

Claiming takes **one message at a time**: one UPDATE whose WHERE names the claimable states, so of
two processes claiming at once only one changes a given row (PostgreSQL: the due row is chosen
``FOR UPDATE SKIP LOCKED``, and the WHERE is re-checked; SQLite runs one writer at a time). The
claim carries a random token and a short per-message lease (``LEASE``, 90 s); marking the row
sent or retried requires the token, and each message is marked as soon as the server answers.

What we guarantee: a row is never delivered by two senders at once, and it is delivered again only
if its sender died (or lost the database) after the SMTP server accepted it but before the row was
marked sent — then, once its lease ends, the row is claimed again — or if the connection broke
after the server took the message but before its answer reached us (retried as an outage). The
re-send carries the **same Message-ID** (fixed when the row was written), so receivers that dedupe
by Message-ID see one message. A crash therefore makes at most one duplicate (the message in
flight) and delays only that message, by at most the lease. No SMTP protocol can do better: the
acceptance and our commit are not one transaction. The lease is three times the whole-delivery
timeout (``mailer.SEND_TIMEOUT``), so a live sender never loses its claim.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app.config import Settings
from app.db import dialect_insert, session_scope, table_of
from app.email import mailer
from app.errors import Conflict, MailPermanent, MailTransient, MailUnavailable, NotFound
from app.models import Outbox

log = logging.getLogger("bansou.outbox")

OUTBOX = table_of(Outbox)
PRIORITY_BULK = 0
PRIORITY_PERSON = 1
LEASE = dt.timedelta(seconds=3 * mailer.SEND_TIMEOUT)
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=6)
MAX_ATTEMPTS = 10
RATE_WINDOW = dt.timedelta(minutes=1)


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed try: 1 → 1 min, 2 → 2 min, 5 → 16 min, 10 → 6 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def enqueue(
    session: Session, *, kind: str, to: str, subject: str, text: str, html: str | None,
    mail_from: str, now: dt.datetime, account_id: int | None = None, dedupe_key: str | None = None,
    priority: int = PRIORITY_BULK, send_by: dt.datetime | None = None,
) -> Outbox | None:
    """Queue one email in the caller's transaction; None if ``dedupe_key`` was already queued.
    ``send_by``: an automated email's deadline (not delivered after it)."""
    values = {
        "kind": kind, "account_id": account_id, "dedupe_key": dedupe_key, "to_addr": to,
        "subject": subject, "text_body": text, "html_body": html,
        "message_id": mailer.new_message_id(mail_from), "state": "queued", "attempts": 0,
        "priority": priority, "send_by": send_by,
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
    rows = session.execute(select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)).all()
    return {state: n for state, n in rows}


def retry(session: Session, *, outbox_id: int, now: dt.datetime) -> Outbox:
    """Queue a failed message again, due now (attempts start over; an admin's decision, so an
    automated email's deadline no longer holds it back)."""
    row = get(session, outbox_id)
    if row.state != "failed":
        raise Conflict(f"outbox message {outbox_id} is {row.state}; only failed messages retry")
    row.state, row.attempts, row.next_attempt_at = "queued", 0, now
    row.last_error, row.updated_at, row.send_by = None, now, None
    session.add(row)
    session.flush()
    return row


def _in_time(now: dt.datetime) -> Any:
    return or_(OUTBOX.c.send_by.is_(None), OUTBOX.c.send_by > now)


def _claimable(now: dt.datetime) -> Any:
    return and_(
        or_(
            and_(OUTBOX.c.state == "queued", OUTBOX.c.next_attempt_at <= now),
            and_(OUTBOX.c.state == "sending", OUTBOX.c.claimed_until < now),
        ),
        _in_time(now),
    )


def claim(session: Session, *, now: dt.datetime,
          min_priority: int = PRIORITY_BULK) -> Outbox | None:
    """Atomically take the next due message (a person's first, then the oldest due), or one
    whose sender's lease ran out; None when there is none."""
    token = secrets.token_hex(16)
    due = (
        select(OUTBOX.c.id).where(_claimable(now), OUTBOX.c.priority >= min_priority)
        .order_by(OUTBOX.c.priority.desc(), OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(1)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        update(OUTBOX)
        # "=" (one evaluation), not IN: PostgreSQL may re-run an IN subquery per row, and
        # with SKIP LOCKED each re-run picks the next row (several rows claimed at once).
        .where(OUTBOX.c.id == due.scalar_subquery(), _claimable(now))
        .values(state="sending", claim_token=token, claimed_until=now + LEASE,
                attempts=OUTBOX.c.attempts + 1, updated_at=now)
    )
    session.flush()
    return session.execute(
        select(Outbox).where(col(Outbox.claim_token) == token)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def expire(session: Session, *, now: dt.datetime) -> int:
    """Fail the automated emails whose deadline passed before they could be delivered."""
    done = session.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.send_by <= now,
            or_(OUTBOX.c.state == "queued",
                and_(OUTBOX.c.state == "sending", OUTBOX.c.claimed_until < now)),
        )
        .values(state="failed", claimed_until=None, updated_at=now,
                last_error=func.coalesce(OUTBOX.c.last_error + "; ", "")
                + "not sent before its deadline (its window or grace period ended)")
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def sent_since(session: Session, *, since: dt.datetime) -> int:
    """How many messages the server accepted after ``since``."""
    return int(session.execute(
        select(func.count()).select_from(OUTBOX).where(OUTBOX.c.sent_at > since)
    ).scalar_one())


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


def mark_unavailable(session: Session, row: Outbox, *, error: str, now: dt.datetime,
                     retry_after: dt.timedelta) -> bool:
    """The server was unreachable: due again after ``retry_after``, the try not counted."""
    return _finish(session, row, now, state="queued", last_error=error,
                   attempts=OUTBOX.c.attempts - 1, next_attempt_at=now + retry_after)


def mark_failed(session: Session, row: Outbox, *, error: str, now: dt.datetime) -> bool:
    return _finish(session, row, now, state="failed", last_error=error)


@dataclass
class SendResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    unavailable: bool = False  # the server could not be reached: the run stopped there


def send_due(
    engine: Engine, *, settings: Settings, now: dt.datetime, limit: int | None = None,
    min_priority: int = PRIORITY_BULK, clock: Callable[[], dt.datetime] | None = None,
) -> SendResult:
    """Deliver due messages one at a time, a person's first, within the send rate: each is
    claimed (its own transaction and lease), handed to the server and marked at once.
    ``clock`` (the wall clock in production) dates each claim and mark; without it, ``now``."""
    config = mailer.SmtpConfig.from_url(settings.smtp_url)
    result = SendResult()
    if config is None:
        return result
    at = clock or (lambda: now)
    with session_scope(engine) as session:
        result.expired = expire(session, now=now)
        budget = settings.outbox_rate_per_minute - sent_since(session, since=now - RATE_WINDOW)
    if limit is not None:
        budget = min(budget, limit)
    outage_retry = dt.timedelta(seconds=settings.outbox_outage_retry_seconds)
    while result.claimed < budget:
        with session_scope(engine) as session:
            row = claim(session, now=at(), min_priority=min_priority)
        if row is None:
            break
        result.claimed += 1
        mail = mailer.Mail(row.to_addr, row.subject, row.text_body, row.html_body, row.message_id)
        message = mailer.build_message(mail, mail_from=settings.mail_from, date=row.created_at)
        try:
            _run(mailer.deliver(config, message))
        except MailPermanent as exc:
            with session_scope(engine) as session:
                mark_failed(session, row, error=str(exc), now=at())
            result.failed += 1
        except MailUnavailable as exc:
            with session_scope(engine) as session:
                mark_unavailable(session, row, error=str(exc), now=at(), retry_after=outage_retry)
            result.retrying += 1
            result.unavailable = True
            break
        except MailTransient as exc:
            with session_scope(engine) as session:
                mark_transient(session, row, error=str(exc), now=at())
            result.retrying += 1
        else:
            with session_scope(engine) as session:
                mark_sent(session, row, now=at())
            result.sent += 1
    return result


def deliver_requested(engine: Engine, *, settings: Settings,
                      clock: Callable[[], dt.datetime]) -> SendResult:
    """Deliver the due emails a person asked for, right away: run after the request that queued
    them committed, so *Send now* does not wait for the sender job's next minute."""
    try:
        return send_due(engine, settings=settings, now=clock(), min_priority=PRIORITY_PERSON,
                        clock=clock)
    except Exception:  # the sender job tries again within a minute
        log.exception("prompt delivery failed; the outbox job will try again")
        return SendResult()


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end from sync code, also when this thread already runs an event
    loop (the scheduler's, or a test's): then in a fresh loop on a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
