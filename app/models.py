"""Database tables. Alembic migrations under ``alembic/versions`` are the only way these change.

Conventions: singular snake_case table names, ``*_at`` for UTC timestamps, ``*_on`` for dates,
integer surrogate keys inside the database, and each account's ``external_id`` (the Segment
``groupId``) as its public identity.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, utcnow

USER_ROLES = ("admin", "csm", "viewer")
API_SCOPES = ("read", "write", "admin")
ACCOUNT_STATUSES = ("active", "churned", "deleted")
CONTACT_STATUSES = ("active", "deleted")
SEGMENTS = ("enterprise", "mid_market", "smb")

#: 64-bit ids where rows may number in the billions; SQLite only autoincrements INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


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


# -- ingestion (Segment-compatible destination, rollups, interactions) --------------------------

INTERACTION_TYPES = (
    "meeting", "call", "email_sent", "email_reply", "support_ticket", "webinar", "event",
    "community", "community_post", "nps_response", "email_click", "meeting_scheduled",
    "training", "certification", "note",
)
EVENT_TYPES = ("track", "page", "screen", "identify", "group")


class Source(SQLModel, table=True):
    """A sender of Segment-format traffic; authenticates with a write key (stored as SHA-256)."""

    __tablename__ = "source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    key_prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    key_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_event_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(String(1000)))


class SourceDailyStat(SQLModel, table=True):
    """Messages accepted and rejected per source and day (in the team's time zone)."""

    __tablename__ = "source_daily_stat"

    source_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("source.id", ondelete="CASCADE"), primary_key=True
        )
    )
    day: dt.date = Field(primary_key=True)
    accepted: int = Field(default=0)
    rejected: int = Field(default=0)
    duplicates: int = Field(default=0)


class IngestError(SQLModel, table=True):
    """A message a source sent that was rejected, with the reason and (a prefix of) the message."""

    __tablename__ = "ingest_error"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    message_id: str | None = Field(default=None, sa_column=Column(String(255)))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    excerpt: str | None = Field(default=None, sa_column=Column(String(2000)))


class TrackedUser(SQLModel, table=True):
    """A product user seen in the traffic: their latest group link and identify traits.

    Identify calls can arrive before the group call that tells us the user's account; the traits
    wait here, and the contact is created when the account becomes known.
    """

    __tablename__ = "tracked_user"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    account_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="SET NULL"), index=True),
    )
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    first_seen_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class Event(SQLModel, table=True):
    """A raw message as received (append-only; purged after the retention period).

    ``account_id`` is null while the event cannot be attributed yet (pending); ``group_id`` is
    the account id the message claimed, kept so it can be attributed when that account appears.
    """

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint(_in("type", EVENT_TYPES), name="type"),
        Index("uq_event_source_message", "source_id", "message_id", unique=True),
        Index("ix_event_account_occurred", "account_id", "occurred_at"),
        Index("ix_event_received_at", "received_at"),
        Index(
            "ix_event_pending_user", "user_id",
            sqlite_where=text("account_id IS NULL"), postgresql_where=text("account_id IS NULL"),
        ),
        Index(
            "ix_event_pending_group", "group_id",
            sqlite_where=text("account_id IS NULL"), postgresql_where=text("account_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True))
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), nullable=False)
    )
    message_id: str = Field(sa_column=Column(String(255), nullable=False))
    type: str = Field(sa_column=Column(String(8), nullable=False))
    name: str | None = Field(default=None, sa_column=Column(String(255)))
    user_id: str | None = Field(default=None, sa_column=Column(String(255)))
    anonymous_id: str | None = Field(default=None, sa_column=Column(String(255)))
    group_id: str | None = Field(default=None, sa_column=Column(String(255)))
    account_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"))
    )
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


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
    user key; days in ``usage_active_user``). See ``app.services.presence``.
    """

    __tablename__ = "usage_presence"
    __table_args__ = (
        CheckConstraint(_in("kind", PRESENCE_KINDS), name="kind"),
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


class Interaction(SQLModel, table=True):
    """Something that happened between the vendor and a customer: a meeting, a ticket, an NPS..."""

    __tablename__ = "interaction"
    __table_args__ = (
        CheckConstraint(_in("type", INTERACTION_TYPES), name="type"),
        Index("ix_interaction_account_occurred", "account_id", "occurred_at"),
        # With the account: counts per account in a window read this index alone.
        Index("ix_interaction_type_occurred_account", "type", "occurred_at", "account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    type: str = Field(sa_column=Column(String(32), nullable=False))
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: The caller's id for it (or its Idempotency-Key): a retry with the same id is not a new one.
    external_id: str | None = Field(default=None, sa_column=Column(String(255), unique=True))
    request_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    author_user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    author: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    title: str | None = Field(default=None, sa_column=Column(String(500)))
    body: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InteractionContact(SQLModel, table=True):
    """The customer people an interaction involved (attendees, the NPS respondent, ...)."""

    __tablename__ = "interaction_contact"

    interaction_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("interaction.id", ondelete="CASCADE"), primary_key=True
        )
    )
    contact_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


# -- health scoring ----------------------------------------------------------------------------

MODEL_STATES = ("draft", "published", "retired")


class HealthModel(SQLModel, table=True):
    """A named health model; its formulas live in versions, one of them published at a time."""

    __tablename__ = "health_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    description: str | None = Field(default=None, sa_column=Column(String(1000)))
    preset: str | None = Field(default=None, sa_column=Column(String(32)))
    is_default: bool = Field(default=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class HealthModelVersion(SQLModel, table=True):
    """One version of a model's definition (groups, measures, grading); published ones are frozen."""

    __tablename__ = "health_model_version"
    __table_args__ = (
        CheckConstraint(_in("state", MODEL_STATES), name="state"),
        Index("uq_health_model_version", "model_id", "version", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(
        sa_column=Column(Integer, ForeignKey("health_model.id", ondelete="CASCADE"), nullable=False)
    )
    version: int = Field(nullable=False)
    state: str = Field(default="draft", sa_column=Column(String(16), nullable=False))
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    published_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class ScoreSnapshot(SQLModel, table=True):
    """An account's score on a day under one model version, with what explains it.

    The explanation (every measure's grade, points, weight, contribution, next step) is a pure
    function of the version's definition and the measures' raw values, so a snapshot keeps only
    the values (``measure_values``, in the definition's order of groups and measures) and which
    of them were stale (``stale_mask``, bit i for measure i); readers rebuild the rest.
    """

    __tablename__ = "score_snapshot"
    __table_args__ = (Index("ix_score_snapshot_version_day", "model_version_id", "day"),)

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    model_version_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("health_model_version.id", ondelete="CASCADE"), primary_key=True
        )
    )
    day: dt.date = Field(primary_key=True)
    score: float | None = Field(default=None)
    band: str | None = Field(default=None, sa_column=Column(String(8)))
    status: str | None = Field(default=None, sa_column=Column(String(16)))
    measure_values: list[float | None] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    stale_mask: int = Field(default=0, nullable=False)
    computed_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class SentimentRating(SQLModel, table=True):
    """A CSM's manual health rating (1–5) with a comment; it expires and resets on owner change."""

    __tablename__ = "sentiment_rating"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_sentiment_rating_account_created", "account_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    rating: int = Field(nullable=False)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    author_user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    #: The account's owner when the rating was given; a new owner starts from no rating.
    owner_id: int | None = Field(default=None)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class ScoreDirty(SQLModel, table=True):
    """Accounts whose data changed since they were last scored (ingestion marks them)."""

    __tablename__ = "score_dirty"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    since: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)

from app.models_expansion import *  # noqa: E402,F403
from app.models_ingest import *  # noqa: E402,F403
from app.models_jobs import *  # noqa: E402,F403
from app.models_plans import *  # noqa: E402,F403
from app.models_priorities import *  # noqa: E402,F403
from app.models_reports import *  # noqa: E402,F403
from app.models_tasks import *  # noqa: E402,F403
from app.models_web import *  # noqa: E402,F403
