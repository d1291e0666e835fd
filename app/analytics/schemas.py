"""Response bodies for the team KPIs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class PeriodPublic(BaseModel):
    key: str = Field(description="`2026-10`, `2026-Q3` or `2026-10-05..2026-11-04`")
    kind: Literal["month", "quarter", "range"]
    start: dt.date
    end: dt.date = Field(description="Inclusive, in the team's time zone")


class TrendPoint(BaseModel):
    period: PeriodPublic
    value: float | None
    numerator: float | None
    denominator: float | None


class KpiPublic(BaseModel):
    key: str
    value: float | None = Field(description="null when the denominator is zero (nothing to rate)")
    unit: Literal["ratio", "points", "nps"] = Field(
        description="ratio: 0–1; points: health score points; nps: −100 to 100"
    )
    numerator: float | None
    denominator: float | None
    definition: str
    detail: dict[str, Any] = Field(description="The parts behind the number")
    trend: list[TrendPoint] = Field(description="The 12 periods ending with this one, oldest first")


class NpsCommentPublic(BaseModel):
    account_id: str
    account_name: str
    on: dt.date
    score: int
    comment: str | None


class RenewalPublic(BaseModel):
    account_id: str
    account_name: str
    on: dt.date
    outcome: Literal["renewed", "churned"]
    arr_before: float | None
    arr_after: float | None


class FiltersPublic(BaseModel):
    segment: str | None
    owner: str | None
    industry: str | None
    tier: int | None


class KpiReportPublic(BaseModel):
    period: PeriodPublic
    filters: FiltersPublic
    timezone: str
    as_of: dt.date = Field(description="Today in the team's time zone; a running period ends here")
    accounts: int = Field(description="Accounts matching the filters (deleted ones never count)")
    health_model: str | None
    kpis: list[KpiPublic]
    nps_comments: list[NpsCommentPublic]
    renewals: list[RenewalPublic]
