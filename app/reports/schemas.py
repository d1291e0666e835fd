"""Request bodies for adoption reports, report schedules and check-in email templates."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.types import DbId


class ReportCreate(BaseModel):
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    language: str | None = Field(default=None, description="`ja` or `en` (default `ja`)")
    message: str | None = Field(default=None, description="A personal note shown above the numbers")
    contact_ids: list[DbId] = Field(default_factory=list, description="Contacts to send it to")
    emails: list[str] = Field(default_factory=list, description="Contacts' emails to send it to")


class ScheduleCreate(BaseModel):
    cadence: str = Field(description="`monthly` or `quarterly`")
    day_of_month: int = Field(default=1, ge=1, le=31)
    recipients: list[str] = Field(description="Emails of the account's contacts")
    language: str | None = None


class TemplateIn(BaseModel):
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=20000)
