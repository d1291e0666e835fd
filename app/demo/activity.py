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
    # churned: fine at first, fading over the five months before the churn date and
    # collapsing in the last two
    assert plan.churned_on is not None
    to_churn = (plan.churned_on - day).days
    if to_churn < 0:
        return 0.0
    return 0.5 * ramp * min(1.0, to_churn / 150) ** 1.5 * min(1.0, 0.3 + to_churn / 60)


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


def interactions_for(
    rng: random.Random, plan: AccountPlan, kind: str, segment: str, owner: str | None,
    contacts: list[str], start: dt.date, now: dt.datetime, tz: dt.tzinfo,
) -> list[dict[str, object]]:
    """A year of meetings, calls, tickets, NPS answers, webinars, community and training."""
    today = now.astimezone(tz).date()
    begin = max(start, plan.contract_start_on)
    last = plan.churned_on or today
    out: list[dict[str, object]] = []
    engaged = {"grower": 1.0, "steady": 0.7, "seasonal": 0.6, "decliner": 0.4, "stalled": 0.25,
               "churned": 0.35}[kind]
    author = owner or "system"
    n = 0

    def add(day: dt.date, kind_: str, **fields: object) -> None:
        nonlocal n
        n += 1
        at = dt.datetime.combine(day, dt.time(rng.randint(9, 17), rng.choice((0, 30))), tzinfo=tz)
        if at > now:
            return
        out.append({"account_id": plan.external_id, "type": kind_, "occurred_at": at,
                    "external_id": f"demo-{plan.external_id}-{n}", **fields})

    meeting_gap = {"enterprise": 28, "mid_market": 50, "smb": 100}[segment]
    day = begin + dt.timedelta(days=rng.randint(3, 14))
    while day <= last:
        # Quiet accounts and accounts on their way out see their CSM less.
        fading = plan.churned_on is not None and (plan.churned_on - day).days < 150
        if rng.random() < (0.25 if fading else 0.55 + 0.45 * engaged):
            people = rng.sample(contacts, min(len(contacts), rng.randint(1, 3)))
            onboarding = (day - plan.contract_start_on).days < 90
            add(day, "meeting", author=author, title="定例ミーティング / Regular meeting",
                attendees=people, notes="利用状況と次のアクションを確認 / Reviewed usage and next steps.",
                onboarding_topic="初期設定 / Setup" if onboarding else None,
                duration_minutes=rng.choice((30, 45, 60)))
        day += dt.timedelta(days=int(meeting_gap * rng.uniform(0.6, 1.5)))
    for _ in range(rng.randint(0, 6)):
        day = begin + dt.timedelta(days=rng.randint(0, max(0, (last - begin).days)))
        add(day, "call", author=author, duration_minutes=rng.choice((15, 20, 30)))
    for _ in range(int(rng.randint(1, 8) * (1.6 - engaged))):
        day = begin + dt.timedelta(days=rng.randint(0, max(0, (last - begin).days)))
        add(day, "support_ticket", author="zendesk", title="問い合わせ / Support request",
            status=rng.choice(("opened", "closed", "closed")),
            severity=rng.choice(("low", "normal", "normal", "high")),
            ticket_id=f"ZD-{rng.randint(10000, 99999)}")
    nps_center = {"grower": 9, "steady": 8, "seasonal": 7, "decliner": 6, "stalled": 5,
                  "churned": 4}[kind]
    survey = dt.date(today.year - 1, 1, 15)
    while survey <= last:
        if survey >= begin:
            for person in contacts:
                if rng.random() < 0.3:
                    late = plan.churned_on is not None and (plan.churned_on - survey).days < 120
                    center = nps_center - (3 if late else 0)
                    add(survey + dt.timedelta(days=rng.randint(0, 10)), "nps_response",
                        contacts=[person], score=max(0, min(10, int(rng.gauss(center, 1.5)))),
                        comment=rng.choice((None, "使いやすい", "レポートが便利", "もっと研修がほしい",
                                            "Support was quick", "Too expensive for us")))
        survey += dt.timedelta(days=91)
    for month in range(12):
        day = today - dt.timedelta(days=30 * month + rng.randint(0, 20))
        if begin <= day <= last and rng.random() < 0.45 * engaged:
            add(day, "webinar", contacts=rng.sample(contacts, 1),
                name=rng.choice(("はじめての活用ウェビナー / First steps", "もっと使おう / Use it more",
                                 "新機能紹介 / What's new")))
        if begin <= day <= last and rng.random() < 0.25 * engaged:
            add(day, rng.choice(("community", "community_post", "event")),
                contacts=rng.sample(contacts, 1))
        if begin <= day <= last and rng.random() < 0.12 * engaged:
            add(day, "certification", contacts=rng.sample(contacts, 1),
                name="Bansō 認定 / Certified user", level=rng.randint(1, 3))
        if begin <= day <= last and rng.random() < 0.15 * engaged:
            add(day, "training", contacts=rng.sample(contacts, 1), name="管理者トレーニング / Admin training")
    if plan.churned_on is None and rng.random() < 0.35:
        soon = now + dt.timedelta(days=rng.randint(1, 20))
        booked = now - dt.timedelta(days=rng.randint(2, 14))  # agreed at an earlier meeting or by mail
        out.append({"account_id": plan.external_id, "type": "meeting_scheduled",
                    "occurred_at": booked, "external_id": f"demo-{plan.external_id}-next",
                    "author": author, "scheduled_for": soon, "title": "次回定例 / Next meeting"})
    return out
