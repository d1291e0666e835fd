"""The demo's churn process: learnable but not trivial (issue 17, item 6)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import distinct, func
from sqlmodel import Session, col, select

from app.demo import activity as demo_activity
from app.demo import churn as demo_churn
from app.demo import service as demo
from app.models import (
    Account,
    Contact,
    HealthModel,
    HealthModelVersion,
    Interaction,
    ScoreSnapshot,
    UsageDaily,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def _book(seed: int, n: int) -> list[tuple[dt.date, demo_churn.Story]]:
    """Contract starts and stories for ``n`` accounts, drawn as the demo draws them."""
    rng, stories = random.Random(seed), demo_churn.Storyteller(random.Random(seed + 4))
    out = []
    for _ in range(n):
        industry = rng.choice(demo.INDUSTRIES)
        start = TODAY - dt.timedelta(days=rng.randint(20, demo_churn.OLDEST_CONTRACT_DAYS))
        churned_on, at_renewal = demo_churn.churn_date(rng, industry=industry, start=start, today=TODAY)
        story = stories.story(
            churned_on=churned_on,
            at_renewal=at_renewal,
            start=start,
            today=TODAY,
            has_champion=rng.random() < 0.85,
        )
        out.append((start, story))
    return out


def test_churners_mostly_warn_some_leave_silently_and_healthy_accounts_have_bad_months() -> None:
    book = _book(7, 3000)
    stories = [s for _, s in book]
    churners = [s for s in stories if s.churned_on is not None]
    warned = [s for s in churners if s.warned]
    staying = [s for s in stories if s.churned_on is None]

    assert 0.13 <= len(churners) / len(stories) <= 0.22
    assert 0.55 <= len(warned) / len(churners) <= 0.8  # about two thirds warn, a third do not
    assert {s.reason for s in churners} == {"warned", "budget_cut", "acquisition"}
    at_renewal = sum(s.at_renewal for s in churners) / len(churners)
    assert 0.5 <= at_renewal <= 0.9  # common, not universal
    first_churn = TODAY - dt.timedelta(days=demo_churn.HISTORY_DAYS - demo_churn.FIRST_CHURN_AFTER)
    assert all(first_churn <= s.churned_on < TODAY for s in churners if s.churned_on)
    # Churn dates spread over the history, not bunched at its end.
    assert min(s.churned_on for s in churners if s.churned_on) < TODAY - dt.timedelta(days=400)
    for story in warned:
        assert story.churned_on is not None
        assert 1 <= len(story.signs) <= 3
        leads = [(story.churned_on - onset).days for onset in story.signs.values()]
        assert all(leads) and max(leads) <= demo_churn.LEAD_DAYS[1]
    # Different lead times: many signs start long before the last two months.
    leads = [(s.churned_on - o).days for s in warned if s.churned_on for o in s.signs.values()]
    assert sum(lead > 90 for lead in leads) / len(leads) > 0.5
    assert {k for s in warned for k in s.signs} == {"usage", "outreach", "champion", "nps"}
    # Silent churners' usage is the usual until the day they leave.
    for story in churners:
        if not story.warned and story.churned_on is not None:
            day = story.churned_on - dt.timedelta(days=1)
            assert story.usage_factor(day) == 1.0 or any(a <= day <= b for a, b, _ in story.dips)
            assert story.usage_factor(story.churned_on) == 0.0
    # Healthy accounts have bad months; some lose a champion and stay.
    assert sum(bool(s.dips) for s in staying) / len(staying) > 0.4
    assert sum(bool(s.quiet) for s in staying) / len(staying) > 0.2
    assert sum(s.low_nps_on is not None for s in staying) / len(staying) > 0.2
    assert sum(s.champion_lost_on is not None for s in staying) / len(staying) > 0.05
    assert all(s.usage_factor(b) < 1 for s in staying for a, b, _ in s.dips)


def test_the_churn_process_is_the_same_for_the_same_seed() -> None:
    assert _book(11, 200) == _book(11, 200)
    assert _book(11, 200) != _book(12, 200)
    start, story = next((start, s) for start, s in _book(11, 200) if "usage" in s.signs)
    plan = demo_activity.AccountPlan(
        external_id="a",
        seats=50,
        contract_start_on=start,
        churned_on=story.churned_on,
        user_ids=("u1", "u2"),
        story=story,
    )
    first = demo_activity.daily_usage(
        random.Random(1),
        plan,
        "steady",
        ("dashboards", "reports"),
        TODAY - dt.timedelta(days=400),
        TODAY,
        TODAY,
    )
    again = demo_activity.daily_usage(
        random.Random(1),
        plan,
        "steady",
        ("dashboards", "reports"),
        TODAY - dt.timedelta(days=400),
        TODAY,
        TODAY,
    )
    assert first == again


def _active_days(days: set[dt.date], end: dt.date, span: int) -> int:
    return sum(1 for d in days if end - dt.timedelta(days=span) <= d < end)


@pytest.mark.slow
def test_the_demo_book_warns_before_most_churns(session: Session) -> None:
    demo.load_demo(session, seed=5, accounts=50, now=NOW, tz=TOKYO)

    accounts = session.exec(select(Account)).all()
    churners = [a for a in accounts if a.churned_on is not None]
    active = [a for a in accounts if a.churned_on is None]
    usage: dict[int, set[dt.date]] = defaultdict(set)
    for account_id, day in session.exec(select(UsageDaily.account_id, UsageDaily.day)).all():
        usage[account_id].add(day)
    interactions: dict[int, list[Interaction]] = defaultdict(list)
    for item in session.exec(select(Interaction).order_by(col(Interaction.occurred_at))).all():
        interactions[item.account_id].append(item)
    contacts = session.exec(select(Contact)).all()

    def signs(account: Account) -> set[str]:
        assert account.churned_on is not None
        end = account.churned_on
        found = set()
        before = [i for i in interactions[account.id] if i.occurred_at.date() < end]
        recent = _active_days(usage[account.id], end, 30)
        earlier = _active_days(usage[account.id], end - dt.timedelta(days=150), 60) / 2
        if earlier and recent < 0.5 * earlier:
            found.add("usage")
        mine = [c for c in contacts if c.account_id == account.id]
        lost = [
            c
            for c in mine
            if c.updated_at > c.created_at
            and c.updated_at.date() < end
            and (not c.is_champion or c.status != "active")
        ]
        if lost and not any(c.is_champion and c.status == "active" for c in mine):
            found.add("champion")
        window = end - dt.timedelta(days=120)
        sent = [i for i in before if i.type == "email_sent" and i.occurred_at.date() >= window]
        answered = [
            i
            for i in before
            if i.type in ("email_reply", "meeting", "call") and i.occurred_at.date() >= window
        ]
        if len(sent) >= 2 and not answered:
            found.add("outreach")
        answers = [i for i in before if i.type == "nps_response" and (end - i.occurred_at.date()).days <= 200]
        if answers and (answers[-1].data or {}).get("score", 10) <= 4:
            found.add("nps")
        return found

    seen = {a.external_id: signs(a) for a in churners}
    warned = [k for k, v in seen.items() if v]
    assert len(churners) >= 6
    assert len(warned) / len(churners) >= 0.5  # most churners show a sign beforehand
    assert len(warned) < len(churners)  # and some leave without one
    # A lost champion is recorded at its moment in the past, through the accounts service.
    changed = [c for c in contacts if c.updated_at > c.created_at]
    assert changed and all(c.updated_at < NOW - dt.timedelta(days=1) for c in changed)
    # Healthy accounts have bad months: a month with far fewer active days than their usual.
    dipped = 0
    for account in active:
        days = usage[account.id]
        months = [_active_days(days, TODAY - dt.timedelta(days=30 * k), 30) for k in range(1, 15)]
        busy = sorted(months)[len(months) // 2]
        if busy >= 10 and min(months) < 0.6 * busy:
            dipped += 1
    assert dipped >= 3
    # About 18 months of usage, and a score history for every shipped model.
    assert min(min(days) for days in usage.values() if days) <= TODAY - dt.timedelta(days=540)
    history = session.execute(
        select(HealthModelVersion.model_id, func.count(distinct(ScoreSnapshot.day)))
        .join(HealthModelVersion, HealthModelVersion.id == ScoreSnapshot.model_version_id)
        .group_by(HealthModelVersion.model_id)
    ).all()
    assert len(history) == len(session.exec(select(HealthModel)).all()) == 4
    assert all(days >= 26 for _, days in history)  # weekly for half a year, and today


def test_most_accounts_use_the_key_features_and_the_others_vary_more() -> None:
    rng = random.Random(3)
    kinds = [k for k, _ in demo_activity.ARCHETYPES]
    weights = [w for _, w in demo_activity.ARCHETYPES]
    draws = [demo_activity.adopted_features(rng, rng.choices(kinds, weights)[0]) for _ in range(3000)]
    share = {key: sum(key in d for d in draws) / len(draws) for key, *_ in demo_activity.CATALOG}
    key = {k for k, _, _, is_key, _ in demo_activity.CATALOG if is_key}
    assert share["dashboards"] >= 0.9 and share["reports"] >= 0.9
    assert 0.75 <= share["integrations"] <= share["automation"] <= 0.92
    assert all(share[k] < 0.75 for k in share if k not in key)
    # The core workflow is a path: an account that connects its data also automates and reports.
    assert all("automation" in d and "reports" in d for d in draws if "integrations" in d)
    # Accounts that will leave with a warning get less far along it.
    warned = [demo_activity.adopted_features(rng, "steady", warned=True) for _ in range(3000)]
    steady = [demo_activity.adopted_features(rng, "steady") for _ in range(3000)]
    assert sum("integrations" in d for d in warned) < sum("integrations" in d for d in steady)
