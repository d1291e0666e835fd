"""Demo usage and interactions: about 18 months of believable behaviour for each demo account.

Each account gets an archetype that shapes its usual daily usage (healthy growers, steady users,
slow decliners, stalled onboardings, seasonal businesses) and a story (``churn``) that bends it:
warning signs before a churn, bad months along the way. History goes in as daily aggregates (the
warehouse path); the last days go in as Segment-format events through the same code path as
``/v1/batch``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from app.demo import churn as demo_churn
from app.demo.churn import Story

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
    ("grower", 0.37),
    ("steady", 0.28),
    ("decliner", 0.13),
    ("stalled", 0.08),
    ("seasonal", 0.14),
)
#: Per archetype, the chance that someone uses the product on a working day (at full use).
DAY_USE = {"grower": 0.97, "steady": 0.93, "decliner": 0.88, "stalled": 0.6, "seasonal": 0.88}
#: The chance a feature other than dashboards is used on a day the account uses the product.
FEATURE_DAY_USE = 0.65
#: The core workflow, in the order accounts adopt it, and the share of accounts that get that
#: far (dashboards and reports nearly all, automation and integrations most).
KEY_ADOPTION = (("dashboards", 1.0), ("reports", 0.96), ("automation", 0.9), ("integrations", 0.86))
#: Per archetype, how far along that path an account gets: its place on it is drawn uniformly
#: below 1 and scaled by this (stalled onboardings stop earlier).
KEY_DEPTH = {"grower": 0.97, "steady": 1.0, "decliner": 1.02, "stalled": 1.3, "seasonal": 1.0}
#: The other features: the share of accounts that use each, times the archetype's breadth.
OTHER_ADOPTION = (("collaboration", 0.6), ("export", 0.45), ("settings", 0.35))
#: Accounts that will leave with a warning get less far along the core workflow.
WARNED_DEPTH = 1.2
#: The chance a bad month pauses some features entirely, and for how long (days; never three
#: months, so a pause is a bad month or two, not a feature given up).
PAUSE_CHANCE = 0.8
PAUSE_DAYS = (35, 75)
OTHER_BREADTH = {"grower": 1.4, "steady": 1.0, "decliner": 0.9, "stalled": 0.4, "seasonal": 0.9}


@dataclass(frozen=True)
class AccountPlan:
    """What the demo needs to know about an account to invent its behaviour."""

    external_id: str
    seats: int
    contract_start_on: dt.date
    churned_on: dt.date | None
    user_ids: tuple[str, ...]
    story: Story = field(default_factory=Story)


@dataclass(frozen=True)
class DayUsage:
    account_id: str
    day: dt.date
    event: str
    count: int
    distinct_users: int
    active_users: int


def archetype(rng: random.Random, plan: AccountPlan) -> str:
    """The account's usual behaviour (accounts that will churn with a warning lean weaker)."""
    mix = demo_churn.archetype_weights(plan.story) or ARCHETYPES
    return rng.choices([a for a, _ in mix], [w for _, w in mix])[0]


def activation(kind: str, day: dt.date, plan: AccountPlan, today: dt.date) -> float:
    """Share of licensed seats active on a busy working day, by archetype, tenure and story."""
    tenure = (day - plan.contract_start_on).days
    ramp = min(1.0, max(0.0, tenure) / 75)  # onboarding takes about ten weeks
    if kind == "grower":
        # Growing over the calendar (new teams join), not with tenure.
        base = ramp * (0.55 - 0.15 * min(1.0, (today - day).days / 548))
    elif kind == "steady":
        base = 0.42 * ramp
    elif kind == "decliner":
        # A slow decline over the whole history that does not end in churn.
        base = 0.5 * ramp * (0.55 + 0.45 * min(1.0, (today - day).days / 548))
    elif kind == "stalled":
        base = 0.08 + 0.07 * ramp
    else:  # seasonal
        base = 0.5 * ramp * (0.7 + 0.3 * math.sin(2 * math.pi * (day.timetuple().tm_yday / 365)))
    return base * plan.story.usage_factor(day)


def day_use(kind: str, plan: AccountPlan, factor: float, weekday: bool) -> float:
    """The chance anyone uses the product on a day: small accounts and fading ones skip days."""
    small = min(1.0, 0.6 + plan.seats / 50)
    chance = DAY_USE[kind] * small * (0.3 + 0.7 * factor)
    return chance if weekday else chance * 0.12


def adopted_features(rng: random.Random, kind: str, *, warned: bool = False) -> tuple[str, ...]:
    """Breadth: which features the account uses at all.

    The key features are the core workflow: nearly every account looks at dashboards and builds
    reports; most also automate and connect their data, in that order (an account that connects
    its data also automates). Stalled onboardings stop early on that path, and so do more of the
    accounts that will later leave with a warning. The other features come and go with the
    account's habits and vary far more.
    """
    depth = rng.random() * KEY_DEPTH[kind] * (WARNED_DEPTH if warned else 1.0)
    chosen = [key for key, share in KEY_ADOPTION if depth < share]
    chosen += [key for key, share in OTHER_ADOPTION if rng.random() < share * OTHER_BREADTH[kind]]
    return tuple(chosen)


def dropped_features(rng: random.Random, plan: AccountPlan, features: tuple[str, ...]) -> dict[str, dt.date]:
    """When an account whose use declines stops using each feature (most, not dashboards)."""
    onset, gone = plan.story.signs.get("usage"), plan.story.churned_on
    if onset is None or gone is None:
        return {}
    span = max(1, (gone - onset).days)
    return {
        key: onset + dt.timedelta(days=int(span * rng.uniform(0.05, 0.6)))
        for key in features
        if key != "dashboards" and rng.random() < 0.75
    }


def paused_features(
    rng: random.Random, plan: AccountPlan, features: tuple[str, ...]
) -> tuple[tuple[str, dt.date, dt.date], ...]:
    """A bad month often stops part of the work for its length (the reports nobody ran, the
    automation left switched off): per dip, one or two features other than dashboards paused
    from its first day for a month or two."""
    out = []
    candidates = [k for k in features if k != "dashboards"]
    for first, _last, _ in plan.story.dips:
        if candidates and rng.random() < PAUSE_CHANCE:
            for key in rng.sample(candidates, min(len(candidates), rng.choice((1, 2)))):
                out.append((key, first, first + dt.timedelta(days=rng.randint(*PAUSE_DAYS))))
    return tuple(out)


def daily_usage(
    rng: random.Random,
    plan: AccountPlan,
    kind: str,
    features: tuple[str, ...],
    start: dt.date,
    end: dt.date,
    today: dt.date,
    dropped: dict[str, dt.date] | None = None,
    paused: tuple[tuple[str, dt.date, dt.date], ...] = (),
) -> list[DayUsage]:
    """Aggregated usage rows for each day from ``start`` to ``end`` inclusive."""
    rates = {k: rate for k, _, _, _, rate in CATALOG}
    dropped = dropped or {}
    rows = []
    day = max(start, plan.contract_start_on)
    if plan.churned_on is not None:
        end = min(end, plan.churned_on - dt.timedelta(days=1))
    while day <= end:
        weekday = day.weekday() < 5
        factor = plan.story.usage_factor(day)
        if rng.random() < day_use(kind, plan, factor, weekday):
            share = activation(kind, day, plan, today) * (1.0 if weekday else 0.15)
            active = min(plan.seats, max(1, int(plan.seats * share * rng.uniform(0.85, 1.15) + rng.random())))
            for key in features:
                if key in dropped and day >= dropped[key]:
                    continue
                if any(k == key and first <= day <= last for k, first, last in paused):
                    continue
                if key != "dashboards" and rng.random() >= FEATURE_DAY_USE:
                    continue
                users = max(1, int(active * rng.uniform(0.3, 0.9)))
                for event, part in EVENTS[key]:
                    count = int(users * rates[key] * part * rng.uniform(0.7, 1.3) + rng.random())
                    if count > 0:
                        rows.append(DayUsage(plan.external_id, day, event, count, min(users, count), active))
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
            messages.append(
                {
                    "type": "page" if row.event.startswith("page:") else "track",
                    **({"name": row.event[5:]} if row.event.startswith("page:") else {"event": row.event}),
                    "userId": user,
                    "messageId": f"demo-{seed_tag}-{plan.external_id}-{row.day}-{row.event}-{i}",
                    "timestamp": at.isoformat(),
                    "context": {"groupId": plan.external_id, "library": {"name": "bansou-demo"}},
                    "properties": {},
                }
            )
    return messages


#: NPS surveys go out every quarter from this day of a year.
SURVEY_ANCHOR = (1, 15)
#: Per archetype: how engaged the account's people are, and their usual NPS answer (Japanese
#: respondents answer low: a 7 is a good mark, 9 and 10 are rare).
ENGAGED = {"grower": 1.0, "steady": 0.7, "seasonal": 0.6, "decliner": 0.4, "stalled": 0.25}
NPS_CENTER = {"grower": 7.5, "steady": 6.5, "seasonal": 6, "decliner": 5, "stalled": 4.5}


def interactions_for(
    rng: random.Random,
    plan: AccountPlan,
    kind: str,
    segment: str,
    owner: str | None,
    contacts: list[str],
    start: dt.date,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> list[dict[str, object]]:
    """Meetings, calls, emails, tickets, NPS answers, webinars, community and training, from
    ``start`` (or the contract start) to the churn date or now."""
    today = now.astimezone(tz).date()
    story = plan.story
    begin = max(start, plan.contract_start_on)
    last = plan.churned_on - dt.timedelta(days=1) if plan.churned_on else today
    out: list[dict[str, object]] = []
    engaged = ENGAGED[kind]
    author = owner or "system"
    n = 0

    def add(day: dt.date, kind_: str, **fields: object) -> None:
        nonlocal n
        n += 1
        at = dt.datetime.combine(day, dt.time(rng.randint(9, 17), rng.choice((0, 30))), tzinfo=tz)
        if at > now or day > last:
            return
        out.append(
            {
                "account_id": plan.external_id,
                "type": kind_,
                "occurred_at": at,
                "external_id": f"demo-{plan.external_id}-{n}",
                **fields,
            }
        )

    meeting_gap = {"enterprise": 28, "mid_market": 50, "smb": 100}[segment]
    day = begin + dt.timedelta(days=rng.randint(3, 14))
    while day <= last:
        if not story.meetings_held(day):
            # The CSM's invitation goes unanswered.
            add(
                day,
                "email_sent",
                author=author,
                contacts=rng.sample(contacts, 1),
                subject="定例ミーティングのご相談 / Shall we meet?",
            )
        elif rng.random() < 0.55 + 0.45 * engaged:
            people = rng.sample(contacts, min(len(contacts), rng.randint(1, 3)))
            onboarding = (day - plan.contract_start_on).days < 90
            add(
                day,
                "meeting",
                author=author,
                title="定例ミーティング / Regular meeting",
                attendees=people,
                notes="利用状況と次のアクションを確認 / Reviewed usage and next steps.",
                onboarding_topic="初期設定 / Setup" if onboarding else None,
                duration_minutes=rng.choice((30, 45, 60)),
            )
        day += dt.timedelta(days=int(meeting_gap * rng.uniform(0.6, 1.5)))
    for _ in range(rng.randint(0, 8)):
        day = begin + dt.timedelta(days=rng.randint(0, max(0, (last - begin).days)))
        if story.meetings_held(day):
            add(day, "call", author=author, duration_minutes=rng.choice((15, 20, 30)))
    # Follow-up emails: answered within days, unless the customer has stopped answering.
    day = begin + dt.timedelta(days=rng.randint(10, 40))
    while day <= last:
        to = rng.sample(contacts, 1)
        add(day, "email_sent", author=author, contacts=to, subject="フォローアップ / Follow-up")
        if story.replies(day) and rng.random() < 0.5 + 0.4 * engaged:
            add(
                day + dt.timedelta(days=rng.randint(0, 4)),
                "email_reply",
                contacts=to,
                subject="Re: フォローアップ / Follow-up",
            )
        day += dt.timedelta(days=rng.randint(40, 70))
    for _ in range(int(rng.randint(1, 8) * (1.6 - engaged))):
        day = begin + dt.timedelta(days=rng.randint(0, max(0, (last - begin).days)))
        add(
            day,
            "support_ticket",
            author="zendesk",
            title="問い合わせ / Support request",
            status=rng.choice(("opened", "closed", "closed")),
            severity=rng.choice(("low", "normal", "normal", "high")),
            ticket_id=f"ZD-{rng.randint(10000, 99999)}",
        )
    _nps(rng, story, kind, contacts, begin, last, start, add)
    months = (today - start).days // 30 + 1
    for month in range(months):
        day = today - dt.timedelta(days=30 * month + rng.randint(0, 20))
        if not begin <= day <= last:
            continue
        # Content engagement follows the account only loosely.
        level = (0.6 + 0.4 * engaged) * story.engagement(day)
        if rng.random() < 0.45 * level:
            add(
                day,
                "webinar",
                contacts=rng.sample(contacts, 1),
                name=rng.choice(
                    (
                        "はじめての活用ウェビナー / First steps",
                        "もっと使おう / Use it more",
                        "新機能紹介 / What's new",
                    )
                ),
            )
        if rng.random() < 0.25 * level:
            add(day, rng.choice(("community", "community_post", "event")), contacts=rng.sample(contacts, 1))
        if rng.random() < 0.12 * level:
            add(
                day,
                "certification",
                contacts=rng.sample(contacts, 1),
                name="Bansō 認定 / Certified user",
                level=rng.randint(1, 3),
            )
        if rng.random() < 0.15 * level:
            add(day, "training", contacts=rng.sample(contacts, 1), name="管理者トレーニング / Admin training")
    if plan.churned_on is None and rng.random() < 0.35:
        soon = now + dt.timedelta(days=rng.randint(1, 20))
        booked = now - dt.timedelta(days=rng.randint(2, 14))  # agreed at an earlier meeting or by mail
        out.append(
            {
                "account_id": plan.external_id,
                "type": "meeting_scheduled",
                "occurred_at": booked,
                "external_id": f"demo-{plan.external_id}-next",
                "author": author,
                "scheduled_for": soon,
                "title": "次回定例 / Next meeting",
            }
        )
    return out


def _nps(
    rng: random.Random,
    story: Story,
    kind: str,
    contacts: list[str],
    begin: dt.date,
    last: dt.date,
    start: dt.date,
    add: Callable[..., None],
) -> None:
    """Quarterly NPS surveys: about a third of the contacts answer; an unhappy customer answers
    more often and low, and says so as soon as it is unhappy (a survey after a support case)."""
    comments = (
        None,
        "使いやすい",
        "レポートが便利",
        "もっと研修がほしい",
        "Support was quick",
        "Too expensive for us",
    )

    def answer(day: dt.date, person: str, center: float) -> None:
        add(
            day,
            "nps_response",
            contacts=[person],
            score=max(0, min(10, int(rng.gauss(center, 1.5)))),
            comment=rng.choice(comments),
        )

    onset = story.signs.get("nps")
    if onset is not None:
        answer(onset + dt.timedelta(days=rng.randint(0, 14)), rng.choice(contacts), 2.5)
    low_pending = story.low_nps_on
    survey = dt.date(start.year - 1, *SURVEY_ANCHOR)
    while survey <= last:
        if survey >= begin:
            unhappy = story.unhappy(survey)
            for person in contacts:
                if rng.random() < (0.6 if unhappy else 0.3):
                    answer(
                        survey + dt.timedelta(days=rng.randint(0, 10)),
                        person,
                        2.5 if unhappy else NPS_CENTER[kind],
                    )
            if low_pending is not None and survey >= low_pending:
                answer(
                    survey + dt.timedelta(days=rng.randint(0, 10)),
                    rng.choice(contacts),
                    rng.choice((2, 3, 4)),
                )
                low_pending = None
        survey += dt.timedelta(days=91)
