"""Response bodies for the scheduled jobs' status."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class JobErrorPublic(BaseModel):
    at: dt.datetime
    code: str = Field(description="database (the database refused or went away) | error")
    type: str = Field(description="The exception's type, e.g. OperationalError")
    message: str = Field(description="Its first line, shortened, with credentials masked")


class JobPublic(BaseModel):
    name: str
    every_seconds: int = Field(description="The job's period")
    status: str | None = Field(description="running | succeeded | failed; null if it never ran")
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_duration_ms: int | None
    last_outcome: dict[str, int | str] | None = Field(
        description='What the last successful run did, as counts, e.g. {"deleted": 12}'
    )
    last_error: JobErrorPublic | None = Field(description="The last failure (kept after a success)")
    consecutive_failures: int
    next_attempt_at: dt.datetime | None = Field(
        description="When it runs next (after a failure: the retry); null: at the next check"
    )
