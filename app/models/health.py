"""Database tables. Alembic migrations under ``alembic/versions`` are the only way these change.

Conventions: singular snake_case table names, ``*_at`` for UTC timestamps, ``*_on`` for dates,
integer surrogate keys inside the database, and each account's ``external_id`` (the Segment
``groupId``) as its public identity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

MODEL_STATES = ("draft", "published", "retired")

#: What an assignment rule reads of the account (``app/health/assignments.py`` documents each).
ASSIGNMENT_RULES = ("segment", "industry", "plan", "trait", "arr_at_least", "arr_below")


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
        CheckConstraint(one_of("state", MODEL_STATES), name="state"),
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


class HealthModelAssignment(SQLModel, table=True):
    """One rule of the ordered list that gives each account its primary health model: the first
    rule an account matches (lowest ``position``) names its model; an account matching none is
    on the default model. A rule is a code and its parameters, never a sentence."""

    __tablename__ = "health_model_assignment"
    __table_args__ = (
        CheckConstraint(one_of("rule", ASSIGNMENT_RULES), name="rule"),
        Index("uq_health_model_assignment_position", "position", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(nullable=False)
    model_id: int = Field(
        sa_column=Column(Integer, ForeignKey("health_model.id", ondelete="CASCADE"), nullable=False)
    )
    rule: str = Field(sa_column=Column(String(16), nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


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
        sa_column=Column(Integer, ForeignKey("health_model_version.id", ondelete="CASCADE"), primary_key=True)
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


class HealthCalibration(SQLModel, table=True):
    """A calibration of a health model from the book's history: the draft version it proposed,
    the protocol it used (``params``) and its out-of-time validation (``report``: codes and
    numbers only, rendered in the reader's language)."""

    __tablename__ = "health_calibration"
    __table_args__ = (Index("ix_health_calibration_model_created", "model_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(
        sa_column=Column(Integer, ForeignKey("health_model.id", ondelete="CASCADE"), nullable=False)
    )
    #: The version calibrated (the published one unless another was named).
    base_version: int | None = Field(default=None)
    #: The draft version holding the proposal (None when the proposal is to keep the model).
    draft_version: int | None = Field(default=None)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: A user's email, an API key's name, or "system".
    actor: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


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


RUN_STATUSES = ("ok", "insufficient_history", "no_model", "no_scores")
FORECAST_STATUSES = (
    "ok",
    "insufficient_history",
    "no_renewal_date",
    "renewal_passed",
    "renewal_beyond_horizon",
    "no_score",
)


class RenewalForecastRun(SQLModel, table=True):
    """One fit of the renewal forecast from the book's history: what it was fitted on, how it did
    out of time, and its backtest of past quarters (codes and numbers, rendered by the reader)."""

    __tablename__ = "renewal_forecast_run"
    __table_args__ = (CheckConstraint(one_of("status", RUN_STATUSES), name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(nullable=False)
    status: str = Field(sa_column=Column(String(32), nullable=False))
    model_version_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("health_model_version.id", ondelete="SET NULL")),
    )
    #: ``measures`` (one coefficient per measure) or ``score`` (the score alone, thin history).
    plan: str | None = Field(default=None, sa_column=Column(String(16)))
    training_first_on: dt.date | None = Field(default=None)
    training_last_on: dt.date | None = Field(default=None)
    samples: int = Field(default=0, nullable=False)
    renewed: int = Field(default=0, nullable=False)
    churned: int = Field(default=0, nullable=False)
    average_probability: float | None = Field(default=None)
    #: The out-of-time evaluation: cutoff, counts, Brier (model, base rate, test rate), AUC.
    evaluation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: Past quarters: forecast GRR with its interval against the GRR that happened.
    backtest: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    fitted_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class RenewalForecast(SQLModel, table=True):
    """An active account's current renewal forecast (replaced by each refresh)."""

    __tablename__ = "renewal_forecast"
    __table_args__ = (CheckConstraint(one_of("status", FORECAST_STATUSES), name="status"),)

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    run_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("renewal_forecast_run.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    day: dt.date = Field(nullable=False)
    status: str = Field(sa_column=Column(String(32), nullable=False))
    renewal_on: dt.date | None = Field(default=None)
    probability: float | None = Field(default=None, index=True)
    model_version_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("health_model_version.id", ondelete="SET NULL")),
    )
    #: Each driver's code, measure key, value, average and contribution to the log-odds.
    drivers: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    fitted_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
