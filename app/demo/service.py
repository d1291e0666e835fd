"""Deterministic demo data, written through the services so it is always valid.

Same seed and ``now`` date → same accounts, contacts and users. A Japanese SaaS vendor's book of
business: ~300 accounts across 12 industries and three segments, contracts started over the last
two and three quarter years with annual renewals, 15–20% churned over the last 18 months (most at
a renewal; see ``churn``), 3–6 contacts each with champion, decision maker and star-user roles
(known since the contract start; a lost champion is recorded at its moment), and four users (one
admin, three CSMs).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import delete, func
from sqlmodel import Session, SQLModel, select

from app.accounts import service as accounts_svc
from app.accounts.schemas import AccountCreate, ContactCreate, ContactUpdate
from app.auth import users as users_svc
from app.demo import activity as demo_activity
from app.demo import churn as demo_churn
from app.demo import history as demo_history
from app.demo import interventions as demo_interventions
from app.demo import kpis as demo_kpis
from app.demo import plans as plans_demo
from app.health import forecast as health_forecast
from app.health import models as health_models
from app.health import snapshots as health_snapshots
from app.ingest import sources as sources_svc
from app.ingest import store as ingest_store
from app.interactions import service as interactions_svc
from app.interactions.schemas import InteractionIn
from app.lifecycle import run as lifecycle
from app.lifecycle import stages
from app.models import Account, StageChange
from app.priorities import service as priorities
from app.usage import aggregates as usage_svc
from app.usage import features as features_svc
from app.usage.schemas import DailyAggregateIn

INDUSTRIES = (
    "manufacturing", "retail", "it_services", "finance", "healthcare", "logistics",
    "real_estate", "education", "media", "hospitality", "construction", "professional_services",
)
_SUFFIX = {
    "manufacturing": "製作所", "retail": "商事", "it_services": "システムズ", "finance": "フィナンシャル",
    "healthcare": "メディカル", "logistics": "物流", "real_estate": "不動産", "education": "エデュケーション",
    "media": "メディア", "hospitality": "ホテルズ", "construction": "建設",
    "professional_services": "コンサルティング",
}
_STEMS = (
    "さくら", "みどり", "あおば", "ひかり", "つばさ", "やまと", "ミライ", "ネクスト", "グローバル", "東京",
    "大阪", "北斗", "朝日", "富士", "青空", "いろは", "なごみ", "はやぶさ", "瑞穂", "北辰", "港南", "白鷺",
    "旭", "紅葉", "銀河", "暁", "翔", "和光", "泉", "城南",
)
_REGIONS = ("", "東日本", "西日本", "関東", "関西", "九州", "北海道", "中部")
_SURNAMES = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
)
_GIVEN = (
    ("翔太", "shota"), ("美咲", "misaki"), ("健", "ken"), ("陽子", "yoko"), ("大輔", "daisuke"),
    ("彩", "aya"), ("拓也", "takuya"), ("真由美", "mayumi"), ("亮", "ryo"), ("さくら", "sakura"),
    ("直樹", "naoki"), ("愛", "ai"),
)
_TITLES = ("情報システム部 部長", "営業企画 マネージャー", "DX推進室 室長", "経営企画 課長", "カスタマーサポート リーダー",
           "総務部 主任", "マーケティング 担当", "代表取締役")
_SEGMENTS = (("enterprise", 0.15, (200, 2000)), ("mid_market", 0.35, (30, 300)),
             ("smb", 0.50, (3, 40)))
_PLANS = {"enterprise": "Enterprise", "mid_market": "Business", "smb": "Starter"}
_USERS = (
    ("admin@bansou.example", "管理者 花子", "admin"),
    ("sato@bansou.example", "佐藤 健太", "csm"),
    ("suzuki@bansou.example", "鈴木 美咲", "csm"),
    ("tanaka@bansou.example", "田中 大輔", "csm"),
)
#: Weeks of score history the demo backfills for every model.
SCORE_HISTORY_DAYS = 189
_WORDS = ("sakura", "fuji", "kaze", "umi", "sora", "hana", "yama", "kawa", "tsuki", "hoshi")


@dataclass
class DemoResult:
    accounts: int = 0
    contacts: int = 0
    usage_rows: int = 0
    events: int = 0
    interactions: int = 0
    snapshots: int = 0
    plans: int = 0
    tasks: int = 0
    stage_changes: int = 0
    users: list[tuple[str, str, str]] = field(default_factory=list)  # email, role, password


def has_data(session: Session) -> bool:
    """Whether any account exists (the demo never loads on top of real data)."""
    return session.exec(select(func.count()).select_from(Account)).one() > 0


def reset(session: Session) -> None:
    """Delete every row of every table (children first); the schema stays."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        session.execute(delete(table))
    session.flush()


def _anniversary_after(start: dt.date, day: dt.date) -> dt.date:
    years = max(1, day.year - start.year)
    while True:
        try:
            candidate = start.replace(year=start.year + years)
        except ValueError:  # 29 February
            candidate = dt.date(start.year + years, 2, 28)
        if candidate > day:
            return candidate
        years += 1


def load_demo(
    session: Session, *, seed: int, accounts: int, now: dt.datetime,
    tz: ZoneInfo = ZoneInfo("Asia/Tokyo"), activity: bool = True,
) -> DemoResult:
    """Create the demo users, accounts, contacts, about 18 months of usage and interactions, the
    shipped health models and their score history; returns counts and the users' passwords."""
    rng = random.Random(seed)
    today = now.date()
    result = DemoResult()

    owners = []
    for email, name, role in _USERS:
        password = "-".join(rng.sample(_WORDS, 3)) + f"-{rng.randint(10, 99)}"
        user = users_svc.create_user(
            session, email=email, name=name, role=role, password=password, now=now
        )
        result.users.append((email, role, password))
        if role == "csm":
            owners.append(user.email)

    used_names: set[str] = set()
    plans: list[tuple[demo_activity.AccountPlan, str, str | None]] = []
    people: list[tuple[list[int], int | None]] = []  # each account's contact ids, its champion
    # Stories have their own random stream, so the accounts are the same with or without them.
    stories = demo_churn.Storyteller(random.Random(seed + 4))
    for n in range(1, accounts + 1):
        industry = rng.choice(INDUSTRIES)
        segment = rng.choices([s for s, _, _ in _SEGMENTS], [w for _, w, _ in _SEGMENTS])[0]
        low, high = next(r for s, _, r in _SEGMENTS if s == segment)
        name = ""
        while not name or name in used_names:
            region = rng.choice(_REGIONS)
            name = f"株式会社{rng.choice(_STEMS)}{_SUFFIX[industry]}" + (f" {region}" if region else "")
        used_names.add(name)
        seats = rng.randint(low, high)
        arr = Decimal(seats * rng.choice((12_000, 18_000, 24_000, 36_000)))
        start = today - dt.timedelta(days=rng.randint(20, demo_churn.OLDEST_CONTRACT_DAYS))
        churned_on, at_renewal = demo_churn.churn_date(
            rng, industry=industry, start=start, today=today
        )
        churned = churned_on is not None
        if churned_on is not None:
            renewal = _anniversary_after(start, churned_on - dt.timedelta(days=1))
        else:
            renewal = _anniversary_after(start, today)
        owner = owners[n % len(owners)] if rng.random() > 0.05 else None
        account = accounts_svc.create_account(
            session,
            account_in=AccountCreate(
                id=f"acct-{n:04d}", name=name, industry=industry, segment=segment,
                plan=_PLANS[segment], licensed_seats=seats, arr=arr, currency="JPY",
                contract_start_on=start, renewal_on=renewal,
                status="churned" if churned else "active", churned_on=churned_on, owner=owner,
                traits={"employees": seats * rng.randint(2, 8), "region": rng.choice(_REGIONS[1:])},
            ),
            now=now, actor="demo",
        )
        result.accounts += 1
        # The people were there from the contract's start: past scoring dates see them.
        contacts, champion = _load_contacts(
            session, rng, account.external_id, n, min(now, _moment(start, tz))
        )
        result.contacts += len(contacts)
        story = stories.story(
            churned_on=churned_on, at_renewal=at_renewal, start=start, today=today,
            has_champion=champion is not None,
        )
        plans.append((
            demo_activity.AccountPlan(
                external_id=account.external_id, seats=seats, contract_start_on=start,
                churned_on=churned_on, user_ids=_user_ids(n, seats, len(contacts)), story=story,
            ),
            segment, owner,
        ))
        people.append((contacts, champion))
    # Its own random stream, so the rest of the demo is the same with or without history.
    demo_history.load_demo_history(session, rng=random.Random(seed + 1), now=now)
    if activity:
        _load_activity(session, rng, plans, people, now, tz, result)
        _load_lifecycle(session, random.Random(seed + 2), now, tz, result)
        demo_kpis.load_demo_kpis(session, rng=random.Random(seed + 3), now=now, tz=tz)
    return result


def _load_lifecycle(
    session: Session, rng: random.Random, now: dt.datetime, tz: ZoneInfo, result: DemoResult
) -> None:
    """Stage and signal history, weekly for the last three months, then today's run with its
    playbook tasks and this week's action list — so every CSM opens a plausible week."""
    # The CSMs rated their champions' motivation three weeks ago, in line with how the accounts did.
    rated_at = now - dt.timedelta(weeks=3)
    for a in stages.assess(session, at=rated_at, tz=tz).values():
        if a.facts.has_champion and rng.random() < 0.6:
            low, high = {"good": (4, 5), "normal": (3, 4), "bad": (1, 3)}.get(a.facts.band or "", (2, 4))
            stages.rate_champion(session, account_id=a.facts.external_id, rating=rng.randint(low, high),
                                 comment=None, user=None, author="demo", now=rated_at)
    for weeks_ago in range(12, 0, -1):
        stages.run_daily(session, now=now - dt.timedelta(weeks=weeks_ago), tz=tz)
    today = lifecycle.run_daily(session, now=now, tz=tz)
    result.tasks = today.tasks_created
    week = priorities.week_of(now.astimezone(tz).date())
    priorities.weekly_list(session, week=week, tz=tz, now=now)
    result.stage_changes = session.execute(select(func.count()).select_from(StageChange)).scalar_one()


def _user_ids(n: int, seats: int, contacts: int) -> tuple[str, ...]:
    """Product user ids: the contacts' own first, then the account's other users."""
    return tuple(f"user-{n:04d}-{k + 1:02d}" if k < contacts else f"user-{n:04d}-x{k:03d}"
                 for k in range(max(contacts, min(seats, 400))))


def _load_activity(
    session: Session, rng: random.Random,
    plans: list[tuple[demo_activity.AccountPlan, str, str | None]],
    people: list[tuple[list[int], int | None]], now: dt.datetime,
    tz: ZoneInfo, result: DemoResult,
) -> None:
    today = now.astimezone(tz).date()
    history_start = today - dt.timedelta(days=demo_churn.HISTORY_DAYS)
    for key, name, patterns, is_key, _rate in demo_activity.CATALOG:
        features_svc.create_feature(
            session, feature_in=features_svc.FeatureIn(key=key, name=name, patterns=list(patterns),
                                                       is_key=is_key), now=now,
        )
    source, _ = sources_svc.create_source(session, name="demo-product", now=now)
    adapter: TypeAdapter[Any] = TypeAdapter(list[InteractionIn])
    aggregates: list[DailyAggregateIn] = []
    messages: list[dict[str, Any]] = []
    interactions: list[dict[str, Any]] = []
    for plan, segment, owner in plans:
        kind = demo_activity.archetype(rng, plan)
        features = demo_activity.adopted_features(rng, kind, warned=plan.story.warned)
        dropped = demo_activity.dropped_features(rng, plan, features)
        paused = demo_activity.paused_features(rng, plan, features)
        rows = demo_activity.daily_usage(rng, plan, kind, features, history_start, today, today,
                                         dropped, paused)
        for row in rows:
            if row.day < today:
                aggregates.append(DailyAggregateIn(
                    account_id=row.account_id, day=row.day, event=row.event, count=row.count,
                    distinct_users=row.distinct_users, active_users=row.active_users,
                ))
        # Today so far arrives as live Segment traffic: a morning's share of a day.
        morning = [
            demo_activity.DayUsage(r.account_id, r.day, r.event, max(1, r.count // 4),
                                   max(1, min(r.distinct_users, r.count // 4)), r.active_users)
            for r in rows if r.day == today
        ]
        messages.extend(demo_activity.segment_messages(rng, morning, plan, tz, "live")[:150])
        contacts = [u for u in plan.user_ids[:6]]
        contact_ids = [c for c in contacts if _is_contact(c)]
        interactions.extend(demo_activity.interactions_for(
            rng, plan, kind, segment, owner, contact_ids,
            history_start - dt.timedelta(days=demo_churn.INTERACTIONS_BEFORE_DAYS), now, tz,
        ))
    # Trainings and webinars lift the following weeks' use (so the analysis has an effect to find).
    aggregates = demo_interventions.with_lift(
        aggregates, interactions, {p.external_id: p.seats for p, _, _ in plans}, tz
    )
    for start in range(0, len(aggregates), 5000):
        usage_svc.replace_daily_aggregates(session, rows=aggregates[start:start + 5000], now=now)
    for start in range(0, len(messages), 500):
        ingest_store.ingest_messages(session, source=source, raws=messages[start:start + 500],
                               received_at=now, tz=tz)
    for start in range(0, len(interactions), 1000):
        interactions_svc.create_interactions(
            session, interactions_in=adapter.validate_python(interactions[start:start + 1000]),
            now=now,
        )
    result.usage_rows = len(aggregates)
    result.events = len(messages)
    result.interactions = len(interactions)
    _change_champions(session, plans, people, tz)
    for preset in ("abc", "adoption", "key_features", "minimal"):
        health_models.adopt_preset(session, preset=preset, now=now)
    # A score history for every model: weekly for the last half year, and today.
    result.snapshots = health_snapshots.backfill(
        session, since=today - dt.timedelta(days=SCORE_HISTORY_DAYS),
        until=today - dt.timedelta(days=1), step_days=7, tz=tz, now=now, model_ids=None,
    )
    result.snapshots += sum(health_snapshots.run_scoring(session, as_of=today, tz=tz, now=now).values())
    # The renewal forecast, fitted on that history (the daily job refits it).
    health_forecast.refresh(session, today=today, now=now)
    result.plans = plans_demo.load_demo_plans(session, rng=rng, now=now, tz=tz)
    from app.demo.expansion import load_demo_opportunities  # after usage: signals need it

    load_demo_opportunities(session, rng=rng, now=now, tz=tz)


def _is_contact(user_id: str) -> bool:
    return "-x" not in user_id


def _load_contacts(
    session: Session, rng: random.Random, account_id: str, n: int, now: dt.datetime
) -> tuple[list[int], int | None]:
    """The account's 3–6 contacts, known since ``now`` (its contract start); returns their ids
    and the champion's (None when it has none)."""
    count = rng.randint(3, 6)
    people = rng.sample([(s, g) for s in _SURNAMES for g in _GIVEN], count)
    champion = rng.randrange(count) if rng.random() < 0.85 else None
    decision_maker = rng.randrange(count)
    stars = set(rng.sample(range(count), rng.choice((0, 1, 1, 2))))
    ids: list[int] = []
    for i, ((surname, surname_r), (given, given_r)) in enumerate(people):
        contact = accounts_svc.create_contact(
            session, account_id=account_id,
            contact_in=ContactCreate(
                external_id=f"user-{n:04d}-{i + 1:02d}",
                email=f"{given_r}.{surname_r}@{account_id}.example.jp",
                name=f"{surname} {given}", title=rng.choice(_TITLES),
                is_champion=i == champion, is_decision_maker=i == decision_maker,
                is_star_user=i in stars,
            ),
            now=now, actor="demo",
        )
        assert contact.id is not None
        ids.append(contact.id)
    return ids, ids[champion] if champion is not None else None


def _moment(day: dt.date, tz: ZoneInfo, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)


def _change_champions(
    session: Session, plans: list[tuple[demo_activity.AccountPlan, str, str | None]],
    people: list[tuple[list[int], int | None]], tz: ZoneInfo,
) -> None:
    """Champions lost on the day their story says (the role removed, or the person gone), and
    the new ones some accounts named later, each recorded at that moment."""
    for (plan, _, _), (contacts, champion) in zip(plans, people, strict=True):
        story = plan.story
        if champion is None or story.champion_lost_on is None:
            continue
        lost = ContactUpdate(status="deleted") if story.champion_loss == "left" else \
            ContactUpdate(is_champion=False)
        accounts_svc.update_contact(session, account_id=plan.external_id, contact_id=champion,
                                    contact_in=lost, now=_moment(story.champion_lost_on, tz, 11),
                                    actor="demo")
        if story.champion_back_on is not None:
            successor = contacts[(contacts.index(champion) + 1) % len(contacts)]
            accounts_svc.update_contact(
                session, account_id=plan.external_id, contact_id=successor,
                contact_in=ContactUpdate(is_champion=True),
                now=_moment(story.champion_back_on, tz, 11), actor="demo",
            )
