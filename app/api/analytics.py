"""Analytics for BI tools: which interventions move the health score."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.analytics import interventions as svc
from app.api.common import ERRORS
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=ERRORS)


@router.get("/interventions")
def intervention_effectiveness(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    start: Annotated[
        dt.date | None,
        Query(alias="from", description="First day of the interventions (default: half a year before `to`)"),
    ] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="Last day (default: today)")] = None,
    window: Annotated[
        int | None,
        Query(ge=1, le=366, description="Days after the intervention: 30 or 60 (default: both)"),
    ] = None,
    segment: Annotated[str | None, Query(description="enterprise, mid_market or smb")] = None,
    owner: Annotated[str | None, Query(description="The owner's email, or `none`")] = None,
) -> dict[str, Any]:
    """Each intervention type's effect on the health score against matched accounts without
    it, with a 95% interval and counts; and the score change by number of touches."""
    filters = svc.parse_filters(
        session,
        start=start,
        end=end,
        window=window,
        segment=segment,
        owner=owner,
        today=today,
    )
    return svc.as_json(svc.effectiveness(session, filters=filters, tz=settings.tz))
