"""CSM users: creation, lookup and listing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import Session, select

from app.auth.security import hash_password
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.models import USER_ROLES, User

MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    locale: str = "ja",
    now: dt.datetime,
) -> User:
    """A new user with an argon2-hashed password; 409 if the email is taken."""
    email = normalise_email(email)
    errors = []
    if "@" not in email or len(email) > 320:
        errors.append(("email", "not an email address"))
    if role not in USER_ROLES:
        errors.append(("role", f"must be one of {', '.join(USER_ROLES)}"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    if locale not in ("ja", "en"):
        errors.append(("locale", "must be ja or en"))
    if errors:
        raise InvalidInput([FieldError(f, m) for f, m in errors])
    if get_user_by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(
        email=email, name=name.strip() or email, role=role, password_hash=hash_password(password),
        locale=locale, created_at=now, updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with this email (case-insensitive), or None."""
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def require_user_by_email(session: Session, email: str, *, field: str = "owner") -> User:
    """The user with this email; 422 naming ``field`` if there is none."""
    user = get_user_by_email(session, email)
    if user is None:
        raise InvalidInput.field(field, f"no user with email {normalise_email(email)}")
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def list_users(session: Session) -> list[User]:
    """All users, by email."""
    return list(session.exec(select(User).order_by(User.email)).all())


def count_users(session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()
