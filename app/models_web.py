"""Web sessions and login throttling.

A signed-in browser holds a random session token in a cookie; only its SHA-256 is stored here, so
a leaked table does not sign anyone in. Failed sign-ins are kept (per email and per client
address) so throttling holds across every process serving the same database.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

__all__ = ["LoginAttempt", "WebSession"]


class WebSession(SQLModel, table=True):
    """A signed-in browser: ends at sign-out, after an idle period, or at its absolute limit."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True
        )
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
