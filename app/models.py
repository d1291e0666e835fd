"""Database tables. Alembic migrations under ``alembic/versions`` are the only way these change.

Conventions: singular snake_case table names, ``*_at`` for UTC timestamps, ``*_on`` for dates,
integer surrogate keys inside the database, and each account's ``external_id`` (the Segment
``groupId``) as its public identity.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, utcnow

USER_ROLES = ("admin", "csm", "viewer")
API_SCOPES = ("read", "write", "admin")
ACCOUNT_STATUSES = ("active", "churned", "deleted")
CONTACT_STATUSES = ("active", "deleted")
SEGMENTS = ("enterprise", "mid_market", "smb")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(SQLModel, table=True):
    """A person at the SaaS company who signs in: a CSM, a leader (admin) or a viewer."""

    __tablename__ = "user"
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

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


class Account(SQLModel, table=True):
    """A customer company. ``external_id`` is the id other systems (and Segment) use for it."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint(f"segment IS NULL OR {_in('segment', SEGMENTS)}", name="segment"),
        CheckConstraint("licensed_seats IS NULL OR licensed_seats >= 0", name="licensed_seats"),
        CheckConstraint("arr >= 0", name="arr"),
        Index("ix_account_status_name", "status", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(255), nullable=False, index=True))
    industry: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    segment: str | None = Field(default=None, sa_column=Column(String(16), index=True))
    plan: str | None = Field(default=None, sa_column=Column(String(100)))
    licensed_seats: int | None = Field(default=None)
    arr: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(18, 2), nullable=False))
    currency: str = Field(default="JPY", sa_column=Column(String(3), nullable=False))
    contract_start_on: dt.date | None = Field(default=None)
    renewal_on: dt.date | None = Field(default=None, index=True)
    status: str = Field(default="active", sa_column=Column(String(16), nullable=False))
    churned_on: dt.date | None = Field(default=None)
    owner_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Contact(SQLModel, table=True):
    """A person at a customer; ``external_id`` is the product's user id (Segment ``userId``)."""

    __tablename__ = "contact"
    __table_args__ = (CheckConstraint(_in("status", CONTACT_STATUSES), name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    external_id: str | None = Field(default=None, sa_column=Column(String(255), unique=True))
    email: str | None = Field(default=None, sa_column=Column(String(320), index=True))
    name: str | None = Field(default=None, sa_column=Column(String(200)))
    title: str | None = Field(default=None, sa_column=Column(String(200)))
    is_champion: bool = Field(default=False)
    is_decision_maker: bool = Field(default=False)
    is_star_user: bool = Field(default=False)
    status: str = Field(default="active", sa_column=Column(String(16), nullable=False))
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ApiKey(SQLModel, table=True):
    """A credential for other services. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(_in("scope", API_SCOPES), name="scope"),)

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
