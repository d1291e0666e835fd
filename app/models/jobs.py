"""Scheduled jobs' last runs: one row per job, written only by the process that runs the job.

The row is what an admin reads (``bansou jobs``, ``/settings/jobs``, ``GET /api/v1/jobs``) and
what ``/readyz`` checks; it is also the schedule every server process shares: a job runs when
``next_attempt_at`` has come (its period after a success, a backoff after a failure).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, String
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of

JOB_STATUSES = ("running", "succeeded", "failed")


#: ``database``: the database refused or went away; ``error``: anything else the job raised.
JOB_ERROR_CODES = ("database", "error")


class JobRun(SQLModel, table=True):
    """A job's last start, finish, success and error, and when it runs next."""

    __tablename__ = "job_run"
    __table_args__ = (
        CheckConstraint(one_of("last_status", JOB_STATUSES), name="last_status"),
        CheckConstraint(
            f"last_error_code IS NULL OR {one_of('last_error_code', JOB_ERROR_CODES)}", name="last_error_code"
        ),
    )

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    last_status: str = Field(sa_column=Column(String(16), nullable=False))
    last_started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_success_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_duration_ms: int | None = Field(default=None, nullable=True)
    #: What the last successful run did, as counts (``{"deleted": 12, "before": "2025-10-19"}``);
    #: the pages word it in the reader's language.
    last_outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    #: The last failure (kept after a later success, for the record): a code, the exception's
    #: type and its first line, shortened, with any credentials in URLs masked.
    last_error_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error_code: str | None = Field(default=None, sa_column=Column(String(16)))
    last_error_type: str | None = Field(default=None, sa_column=Column(String(100)))
    last_error_message: str | None = Field(default=None, sa_column=Column(String(300)))
    consecutive_failures: int = Field(default=0, nullable=False)
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
