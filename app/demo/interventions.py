"""Demo interventions that work: after a training or an attended webinar, the account's people
use the product more for a while.

The lift is applied to the simulated usage (more active users and more events on the days after
the intervention), so it reaches the health score the ordinary way — through the rollups and the
measures read from them — and the intervention analysis has a real effect to find. Nothing here
writes a score or a result.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from app.usage.schemas import DailyAggregateIn

#: Interaction types that lift usage afterwards.
LIFTING_TYPES = frozenset({"training", "webinar"})
#: Extra use on the days after one: +30% active users and events (20 users on a day → 26).
LIFT = 0.3
#: The lift lasts this many days (from the day after the intervention).
LIFT_DAYS = 45


def intervention_days(interactions: Sequence[Mapping[str, Any]], tz: dt.tzinfo) -> dict[str, list[dt.date]]:
    """Each account's days (local) with a lifting intervention, sorted."""
    days: dict[str, set[dt.date]] = defaultdict(set)
    for item in interactions:
        if item.get("type") in LIFTING_TYPES and item.get("attended", True) is not False:
            at = item["occurred_at"]
            assert isinstance(at, dt.datetime)
            days[str(item["account_id"])].add(at.astimezone(tz).date())
    return {account: sorted(found) for account, found in days.items()}


def lifted(day: dt.date, days: list[dt.date]) -> bool:
    """Whether ``day`` falls 1 to ``LIFT_DAYS`` days after one of the (sorted) ``days``."""
    i = bisect.bisect_left(days, day) - 1  # the latest intervention before this day
    return i >= 0 and (day - days[i]).days <= LIFT_DAYS


def with_lift(
    aggregates: list[DailyAggregateIn],
    interactions: Sequence[Mapping[str, Any]],
    seats: Mapping[str, int],
    tz: dt.tzinfo,
) -> list[DailyAggregateIn]:
    """The usage rows with the days after each training or webinar lifted (within the seats)."""
    by_account = intervention_days(interactions, tz)
    out = []
    for row in aggregates:
        days = by_account.get(row.account_id)
        if days is None or not lifted(row.day, days):
            out.append(row)
            continue
        cap = seats.get(row.account_id, 0)
        active = row.active_users
        if active is not None:
            active = max(active, min(cap, round(active * (1 + LIFT))))
        users = min(round(row.distinct_users * (1 + LIFT)), active if active is not None else cap)
        users = max(users, row.distinct_users)
        count = max(round(row.count * (1 + LIFT)), users)
        out.append(row.model_copy(update={"count": count, "distinct_users": users, "active_users": active}))
    return out
