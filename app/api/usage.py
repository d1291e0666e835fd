"""Daily usage aggregates pushed from a warehouse (instead of raw Segment events)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from app.api.common import BODY, ERRORS
from app.deps import NowDep, SessionDep, WriteKeyDep
from app.usage import aggregates as svc
from app.usage.schemas import UsageAggregatesIn, UsageAggregatesResult
from app.validation import NO_TAGS, route_class

router = APIRouter(prefix="/usage", tags=["usage"], responses=ERRORS, route_class=route_class(NO_TAGS))

_BUSY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "A concurrent push held the lock; nothing was written: retry after "
        "`Retry-After` seconds",
        "content": {"application/problem+json": {}},
    },
}


@router.post("", response_model=UsageAggregatesResult, responses={**BODY, **_BUSY})
def push_daily_aggregates(
    aggregates_in: Annotated[UsageAggregatesIn, Body()],
    session: SessionDep,
    now: NowDep,
    _key: WriteKeyDep,
) -> UsageAggregatesResult:
    """Store daily aggregates `{account_id, day, event, count, distinct_users, active_users?}`.

    Values replace what is stored for each (account, day, event) — a re-sent day replaces, never
    adds — and each touched day's totals are recomputed. All or nothing; up to 10,000 rows.
    """
    result = svc.replace_daily_aggregates(session, rows=aggregates_in.data, now=now)
    return UsageAggregatesResult(
        rows=result.rows, created=result.created, replaced=result.replaced,
        account_days=result.account_days,
    )
