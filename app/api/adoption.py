"""An account's adoption summary (users, frequency, breadth, depth, goals, next steps)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.common import ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep
from app.reports import adoption as svc

router = APIRouter(tags=["adoption"], responses=ERRORS)


@router.get("/accounts/{account_id}/adoption", responses=NOT_FOUND)
def account_adoption(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day (default: the first of last month)")
    ] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="Last day")] = None,
) -> dict[str, Any]:
    """The period's adoption measures, each with its change and a 6-period trend."""
    report = svc.account_adoption(
        session,
        account_id=account_id,
        start=start,
        end=end,
        today=today,
        tz=settings.tz,
    )
    return {"account_id": account_id, **svc.as_json(report)}
