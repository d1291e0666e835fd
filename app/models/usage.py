"""Usage rollups, presence, the event-name catalog and the feature catalog."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow


class UsageDaily(SQLModel, table=True):
    """Per account, event name and day: how many events and how many distinct users."""

    __tablename__ = "usage_daily"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    event: str = Field(sa_column=Column(String(255), primary_key=True))
    event_count: int = Field(default=0)
    distinct_users: int = Field(default=0)


class UsageDailyUser(SQLModel, table=True):
    """Who did an event on a day: the set behind ``usage_daily.distinct_users``."""

    __tablename__ = "usage_daily_user"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    event: str = Field(sa_column=Column(String(255), primary_key=True))
    user_key: str = Field(sa_column=Column(String(260), primary_key=True))


class UsageAccountDay(SQLModel, table=True):
    """Per account and day: distinct active users, total events, and the last event's time."""

    __tablename__ = "usage_account_day"
    #: Freshness asks for the newest day of any account up to a date: one index seek.
    __table_args__ = (Index("ix_usage_account_day_day", "day"),)

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    active_users: int = Field(default=0)
    event_count: int = Field(default=0)


class UsageActiveUser(SQLModel, table=True):
    """Who was active for an account on a day: the set behind ``active_users``."""

    __tablename__ = "usage_active_user"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    user_key: str = Field(sa_column=Column(String(260), primary_key=True))


PRESENCE_KINDS = ("a", "e", "u")


class UsagePresence(SQLModel, table=True):
    """Which days an account, each of its events and each of its users was active: 64-day bitmaps.

    Days are numbered from 1970-01-01; block ``b`` is days ``32b`` to ``32b + 31``, and its row
    holds the block before it and its own: bit ``i`` is day ``32(b - 1) + i`` (bit 63 is the
    sign bit of the signed 64-bit integer). Each day sets a bit in two rows, so any window of
    up to 33 days lies within one row. Kinds: ``a`` the account (``item`` empty; days with
    events), ``e`` an event (``item`` the name; days it happened), ``u`` a user (``item`` the
    user key; days in ``usage_active_user``). See ``app.usage.presence``.
    """

    __tablename__ = "usage_presence"
    __table_args__ = (
        CheckConstraint(one_of("kind", PRESENCE_KINDS), name="kind"),
        # Clustered by key on SQLite: a window's rows for all accounts are one contiguous range.
        {"sqlite_with_rowid": False},
    )

    block: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(String(1), primary_key=True))
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    item: str = Field(sa_column=Column(String(260), primary_key=True))
    days: int = Field(sa_column=Column(BigInteger, nullable=False))


class UsagePeakDay(SQLModel, table=True):
    """Account-days whose ``active_users`` came from pushed aggregates and may exceed the users
    seen in raw events (``usage_active_user``): the only days a window's busiest day can beat
    its distinct users."""

    __tablename__ = "usage_peak_day"
    #: A full recompute reads the window's days of every account.
    __table_args__ = (Index("ix_usage_peak_day_day", "day"),)

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)


class UsageEventName(SQLModel, table=True):
    """Every event name that has had usage: what patterns and features are matched against."""

    __tablename__ = "usage_event_name"

    event: str = Field(sa_column=Column(String(255), primary_key=True))


class AccountActivity(SQLModel, table=True):
    """When an account's last usage event arrived (one row per account, kept current)."""

    __tablename__ = "account_activity"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    last_event_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class Feature(SQLModel, table=True):
    """A product feature in the catalog; key features drive breadth-of-adoption measures."""

    __tablename__ = "feature"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(String(1000)))
    is_key: bool = Field(default=False)
    #: Event names that count as use of the feature: exact names or shell-style patterns (``report.*``).
    patterns: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
