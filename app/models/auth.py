"""Web sessions and login throttling.

A signed-in browser holds a random session token in a cookie; only its SHA-256 is stored here, so
a leaked table does not sign anyone in. Failed sign-ins are kept (per email and per client
address) so throttling holds across every process serving the same database.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, one_of, utcnow

USER_ROLES = ("admin", "csm", "viewer")


API_SCOPES = ("read", "write", "admin")


class User(SQLModel, table=True):
    """A person at the SaaS company who signs in: a CSM, a leader (admin) or a viewer."""

    __tablename__ = "user"
    __table_args__ = (CheckConstraint(one_of("role", USER_ROLES), name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    locale: str = Field(default="ja", sa_column=Column(String(8), nullable=False))
    timezone: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_login_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class ApiKey(SQLModel, table=True):
    """A credential for other services. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(one_of("scope", API_SCOPES), name="scope"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    scope: str = Field(sa_column=Column(String(8), nullable=False))
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: ends at sign-out, after an idle period, or at its absolute limit."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LoginAttempt(SQLModel, table=True):
    """A failed sign-in: counted per email and per client address over a sliding window."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_email_at", "email", "attempted_at"),
        Index("ix_login_attempt_ip_at", "ip", "attempted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), nullable=False))
    ip: str = Field(sa_column=Column(String(64), nullable=False))
    attempted_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
