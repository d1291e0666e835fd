"""Demo usage and interactions: 12 months of believable behaviour for each demo account.

Each account gets an archetype that shapes its daily usage: healthy growers, steady users, slow
decliners, stalled onboardings, seasonal businesses, and churned accounts whose usage collapses
in the two months before they leave. History goes in as daily aggregates (the warehouse path);
the last days go in as Segment-format events through the same code path as ``/v1/batch``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

#: The demo product's catalog: (key, name, patterns, is_key, per-active-user daily rate).
CATALOG = (
    ("reports", "レポート作成 / Reports", ("Report Created", "Report Shared"), True, 1.2),
    ("dashboards", "ダッシュボード / Dashboards", ("Dashboard Viewed",), True, 2.5),
    ("automation", "ワークフロー自動化 / Automation", ("Workflow Automated", "workflow.*"), True, 0.6),
    ("integrations", "外部連携 / Integrations", ("Integration Connected", "Data Imported"), True, 0.3),
    ("collaboration", "コメント / Collaboration", ("Comment Posted", "Invite Sent"), False, 0.8),
    ("export", "エクスポート / Export", ("Export Downloaded",), False, 0.4),
    ("settings", "設定 / Settings", ("page:Settings",), False, 0.2),
)
#: Event names and their share of the feature's daily rate.
EVENTS = {
    "reports": (("Report Created", 0.7), ("Report Shared", 0.3)),
    "dashboards": (("Dashboard Viewed", 1.0),),
    "automation": (("Workflow Automated", 1.0),),
    "integrations": (("Data Imported", 0.9), ("Integration Connected", 0.1)),
    "collaboration": (("Comment Posted", 0.8), ("Invite Sent", 0.2)),
    "export": (("Export Downloaded", 1.0),),
    "settings": (("page:Settings", 1.0),),
}
ARCHETYPES = (
    ("grower", 0.35), ("steady", 0.25), ("decliner", 0.15), ("stalled", 0.12), ("seasonal", 0.13),
)


@dataclass(frozen=True)
class AccountPlan:
    """What the demo needs to know about an account to invent its behaviour."""

    external_id: str
    seats: int
    contract_start_on: dt.date
    churned_on: dt.date | None
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class DayUsage:
    account_id: str
    day: dt.date
    event: str
    count: int
    distinct_users: int
    active_users: int


def archetype(rng: random.Random, plan: AccountPlan) -> str:
    if plan.churned_on is not None:
        return "churned"
    return rng.choices([a for a, _ in ARCHETYPES], [w for _, w in ARCHETYPES])[0]


def activation(kind: str, day: dt.date, plan: AccountPlan, today: dt.date) -> float:
    """Share of licensed seats active on a weekday, by archetype and tenure."""
    tenure = (day - plan.contract_start_on).days
    ramp = min(1.0, max(0.0, tenure) / 75)  # onboarding takes about ten weeks
    if kind == "grower":
        return 0.25 + 0.5 * ramp * min(1.0, 0.6 + tenure / 900)
    if kind == "steady":
        return 0.55 * ramp
    if kind == "decliner":
        months_left = (today - day).days / 30
        return 0.6 * ramp * (0.35 + 0.65 * min(1.0, months_left / 9))
    if kind == "stalled":
        return 0.08 + 0.07 * ramp
    if kind == "seasonal":
        return 0.45 * ramp * (0.55 + 0.45 * math.sin(2 * math.pi * (day.timetuple().tm_yday / 365)))
    # churned: fine at first, collapsing over the two months before the churn date
    assert plan.churned_on is not None
    to_churn = (plan.churned_on - day).days
    if to_churn < 0:
        return 0.0
    return 0.5 * ramp * min(1.0, to_churn / 60)


def adopted_features(rng: random.Random, kind: str) -> tuple[str, ...]:
    """Breadth: which features the account uses at all (stalled accounts use few)."""
    keys = [k for k, *_ in CATALOG]
    breadth = {"grower": 6, "steady": 5, "decliner": 4, "stalled": 2, "seasonal": 4, "churned": 3}
    chosen = ["dashboards", *rng.sample([k for k in keys if k != "dashboards"], breadth[kind] - 1)]
    return tuple(chosen)


def daily_usage(
    rng: random.Random, plan: AccountPlan, kind: str, features: tuple[str, ...],
    start: dt.date, end: dt.date, today: dt.date,
) -> list[DayUsage]:
    """Aggregated usage rows for each day from ``start`` to ``end`` inclusive."""
    rates = {k: rate for k, _, _, _, rate in CATALOG}
    rows = []
    day = max(start, plan.contract_start_on)
    while day <= end:
        weekday = day.weekday() < 5
        share = activation(kind, day, plan, today) * (1.0 if weekday else 0.08)
        active = min(plan.seats, len(plan.user_ids),
                     int(plan.seats * share * rng.uniform(0.85, 1.15) + rng.random()))
        if active > 0:
            for key in features:
                users = max(1, int(active * rng.uniform(0.3, 0.9)))
                for event, part in EVENTS[key]:
                    count = int(users * rates[key] * part * rng.uniform(0.7, 1.3) + rng.random())
                    if count > 0:
                        rows.append(DayUsage(plan.external_id, day, event, count,
                                             min(users, count), active))
        day += dt.timedelta(days=1)
    return rows


def segment_messages(
    rng: random.Random, rows: list[DayUsage], plan: AccountPlan, tz: dt.tzinfo, seed_tag: str
) -> list[dict[str, object]]:
    """Turn a few days of aggregates into Segment track calls (one per event occurrence)."""
    messages: list[dict[str, object]] = []
    for row in rows:
        users = rng.sample(plan.user_ids, min(row.distinct_users, len(plan.user_ids)))
        for i in range(row.count):
            at = dt.datetime.combine(row.day, dt.time(9), tzinfo=tz) + dt.timedelta(
                minutes=rng.randint(0, 9 * 60)
            )
            user = users[i % len(users)]
            messages.append({
                "type": "page" if row.event.startswith("page:") else "track",
                **({"name": row.event[5:]} if row.event.startswith("page:") else {"event": row.event}),
                "userId": user,
                "messageId": f"demo-{seed_tag}-{plan.external_id}-{row.day}-{row.event}-{i}",
                "timestamp": at.isoformat(),
                "context": {"groupId": plan.external_id, "library": {"name": "bansou-demo"}},
                "properties": {},
            })
    return messages
