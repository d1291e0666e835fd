"""Browser sign-in: password check with throttling, server-side sessions, user preferences.

Throttling counts failed sign-ins in the database, so every process serving it sees the same
counts: at most ``MAX_FAILURES_PER_EMAIL`` failures for one email and ``MAX_FAILURES_PER_IP``
from one client address within ``THROTTLE_WINDOW`` (e.g. the 6th wrong password for
sato@example.com within 15 minutes is refused without checking it, even if it is right).

A session is a random token held by the browser; only its SHA-256 is stored. It ends at sign-out,
after ``IDLE_TIMEOUT`` without a request, or ``MAX_AGE`` after sign-in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.auth.last_used import LastUsed
from app.auth.security import digest, verify_password
from app.auth.users import get_user_by_email, normalise_email
from app.errors import BadCredentials, FieldError, InvalidInput, NotFound, TooManyAttempts
from app.models import USER_ROLES, LoginAttempt, User, WebSession

#: Failed sign-ins are counted over this sliding window.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
#: 5 failures for one email within the window → its next attempts are refused until one ages out.
MAX_FAILURES_PER_EMAIL = 5
#: 20 failures from one address (many emails tried from one machine) → refused likewise.
MAX_FAILURES_PER_IP = 20
#: A session unused for 8 hours (a working day) ends.
IDLE_TIMEOUT = dt.timedelta(hours=8)
#: And any session ends 14 days after sign-in.
MAX_AGE = dt.timedelta(days=14)
LOCALES = ("ja", "en")


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str  # the cookie value; shown only here


def _failures(
    session: Session, column: object, value: str, since: dt.datetime
) -> tuple[int, dt.datetime | None]:
    count, oldest = session.exec(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            column == value, col(LoginAttempt.attempted_at) > since,
        )
    ).one()
    return int(count), oldest


def sign_in(session: Session, *, email: str, password: str, ip: str, now: dt.datetime) -> SignedIn:
    """A new session for the user; ``TooManyAttempts`` or ``BadCredentials`` otherwise."""
    email = normalise_email(email)[:320]
    ip = ip[:64]
    since = now - THROTTLE_WINDOW
    for column, value, limit in (
        (LoginAttempt.email, email, MAX_FAILURES_PER_EMAIL),
        (LoginAttempt.ip, ip, MAX_FAILURES_PER_IP),
    ):
        count, oldest = _failures(session, column, value, since)
        if count >= limit and oldest is not None:
            raise TooManyAttempts(oldest + THROTTLE_WINDOW - now)
    user = get_user_by_email(session, email) if email else None
    if user is None or not user.is_active or not verify_password(password, user.password_hash):
        session.add(LoginAttempt(email=email, ip=ip, attempted_at=now))
        session.flush()
        raise BadCredentials()
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.email) == email))
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    session.add(WebSession(token_hash=digest(token), user_id=user.id, created_at=now,
                           last_seen_at=now))
    user.last_login_at = now
    session.add(user)
    session.flush()
    return SignedIn(user, token)


def resolve(
    session: Session, *, token: str, now: dt.datetime, last_used: LastUsed
) -> User | None:
    """The active user the session token belongs to, if the session is still alive.

    Writes nothing: the request is noted in ``last_used`` (stored later, outside the request's
    transaction), and an ended session reads as signed out until the hourly clean-up deletes it.
    """
    if not token:
        return None
    found = session.exec(
        select(WebSession, User)
        .join(User, col(User.id) == col(WebSession.user_id))
        .where(WebSession.token_hash == digest(token))
    ).first()
    if found is None:
        return None
    web_session, user = found
    if (not user.is_active or now - last_used.session_last_seen(web_session) > IDLE_TIMEOUT
            or now - web_session.created_at > MAX_AGE):
        return None
    assert web_session.id is not None
    last_used.note_session(web_session.id, now)
    return user


def sign_out(session: Session, *, token: str) -> None:
    """End the session (nothing happens for an unknown token)."""
    if token:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == digest(token)))


def purge_expired(session: Session, *, now: dt.datetime) -> int:
    """Delete sessions past their idle or absolute limit and failures older than the window."""
    ended = session.execute(delete(WebSession).where(
        (col(WebSession.last_seen_at) < now - IDLE_TIMEOUT)
        | (col(WebSession.created_at) < now - MAX_AGE)
    ))
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.attempted_at) < now - THROTTLE_WINDOW))
    return int(getattr(ended, "rowcount", 0) or 0)


def set_preferences(
    session: Session, *, user: User, locale: str | None = None, timezone: str | None = None,
    now: dt.datetime,
) -> User:
    """Change the user's language and/or time zone; 422 naming the field for an unknown one."""
    if locale is not None:
        if locale not in LOCALES:
            raise InvalidInput.field("locale", f"must be one of {', '.join(LOCALES)}")
        user.locale = locale
    if timezone is not None:
        if timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInput.field("timezone", "not a known time zone") from None
        user.timezone = timezone or None
    user.updated_at = now
    session.add(user)
    session.flush()
    return user


def update_user(
    session: Session, *, user_id: int, role: str | None = None, is_active: bool | None = None,
    now: dt.datetime,
) -> User:
    """Change a user's role or deactivate them; a deactivated user's sessions end at once."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    errors = []
    if role is not None and role not in USER_ROLES:
        errors.append(FieldError("role", f"must be one of {', '.join(USER_ROLES)}"))
    if errors:
        raise InvalidInput(errors)
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            session.execute(delete(WebSession).where(col(WebSession.user_id) == user_id))
    user.updated_at = now
    session.add(user)
    session.flush()
    return user
