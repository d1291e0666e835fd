"""An account's daily usage rollups."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.common import ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep
from app.usage import read as usage_read
from app.usage.schemas import AccountUsagePublic, UsageDayPublic

router = APIRouter(tags=["usage"], responses=ERRORS)


@router.get("/accounts/{account_id}/usage", response_model=AccountUsagePublic, responses=NOT_FOUND)
def account_usage(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day (default: 29 days before `to`)")
    ] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="Last day (default: today)")] = None,
) -> AccountUsagePublic:
    """Daily rows `{day, active_users, events: {name: count}}`, every day of the range."""
    usage = usage_read.account_usage(
        session,
        account_id=account_id,
        start=start,
        end=end,
        today=today,
    )
    return AccountUsagePublic(
        account_id=usage.account_id,
        start=usage.start,
        end=usage.end,
        last_event_at=usage.last_event_at,
        data=[UsageDayPublic(**vars(d)) for d in usage.days],
    )
