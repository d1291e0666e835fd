"""Demo expansion pipeline: opportunities in every stage, written through the expansion service.

Some come from the expansion signals the demo's usage raises (seats nearly full, usage growth),
taken from the suggestions exactly as a CSM's click would; the rest were entered by hand on
healthy accounts: seat upsells, cross-sells and plan upgrades sized from the account's ARR.
Deterministic for a given random stream and ``now``.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from app.expansion import service as svc
from app.expansion.schemas import OpportunityCreate
from app.models import Account

#: How many suggestions the team already took up, and how many hand-made opportunities exist.
FROM_SIGNALS = 6
MANUAL = 14
#: Stages of the hand-made ones (weights): most are early, a few closed.
_STAGES = (("identified", 3), ("qualified", 3), ("proposal", 3), ("committed", 2), ("won", 2), ("lost", 1))
_KINDS = (("upsell_seats", 0.10, 0.30), ("cross_sell", 0.08, 0.20), ("upgrade_plan", 0.15, 0.35))
_TITLES = {
    "upsell_seats": ("営業部門への展開", "全社展開の追加ライセンス", "新拠点分のシート追加"),
    "cross_sell": ("分析オプション", "API 連携パック", "シングルサインオン (SSO) オプション"),
    "upgrade_plan": ("上位プランへの移行", "エンタープライズプランへの切り替え"),
}
_LOST_REASONS = ("budget", "timing", "competitor", "no_need")


def _advance(
    session: Session,
    view: svc.OpportunityView,
    stage: str,
    *,
    actor: str,
    now: dt.datetime,
    today: dt.date,
    rng: random.Random,
) -> svc.OpportunityView:
    """Move an opportunity to ``stage`` as a CSM would, filling what that stage needs."""
    row = view.opportunity
    assert row.id is not None
    changes: dict[str, object] = {"stage": stage}
    if row.expected_close_on is None:
        changes["expected_close_on"] = today + dt.timedelta(days=rng.randint(20, 120))
    if stage == "lost":
        changes["lost_reason"] = rng.choice(_LOST_REASONS)
    result = svc.update_opportunity(
        session,
        opportunity_id=row.id,
        changes=changes,
        expected_version=row.version,
        actor=actor,
        now=now,
        today=today,
    )
    if stage in ("won", "lost"):
        # Closed some weeks ago: the demo's history, not today's clicks.
        result.opportunity.closed_on = today - dt.timedelta(days=rng.randint(5, 60))
        result.opportunity.expected_close_on = result.opportunity.closed_on
        session.add(result.opportunity)
        session.flush()
    return result


def load_demo_opportunities(session: Session, *, rng: random.Random, now: dt.datetime, tz: ZoneInfo) -> int:
    """Create the demo's expansion opportunities; returns how many."""
    today = now.astimezone(tz).date()
    created = 0
    taken: set[int] = set()
    suggestions = svc.suggestions(session, filters=svc.Filters(), today=today)
    seats_first = sorted(
        suggestions, key=lambda s: (s.signal.kind != "seats_nearly_full", s.account.external_id)
    )
    for suggestion in seats_first:
        if created >= FROM_SIGNALS or suggestion.account.id in taken:
            continue
        actor = suggestion.owner.email if suggestion.owner else "demo"
        view = svc.create_from_suggestion(
            session,
            account_id=suggestion.account.external_id,
            signal=suggestion.signal.kind,
            actor=actor,
            now=now,
            today=today,
        )
        stage = rng.choice(("identified", "qualified", "proposal"))
        if stage != "identified":
            view = _advance(session, view, stage, actor=actor, now=now, today=today, rng=rng)
        assert suggestion.account.id is not None
        taken.add(suggestion.account.id)
        created += 1

    candidates = [
        a
        for a in session.execute(
            select(Account)
            .where(col(Account.status) == "active", col(Account.owner_id).is_not(None))
            .order_by(col(Account.id))
        ).scalars()
        if a.id not in taken and a.arr > 0
    ]
    stages = [s for s, w in _STAGES for _ in range(w)]
    for account in rng.sample(candidates, min(MANUAL, len(candidates))):
        kind, low, high = rng.choice(_KINDS)
        amount = (account.arr * Decimal(str(round(rng.uniform(low, high), 2)))).quantize(Decimal(1000))
        stage = rng.choice(stages)
        view = svc.create_opportunity(
            session,
            opportunity_in=OpportunityCreate(
                account_id=account.external_id,
                kind=kind,
                title=rng.choice(_TITLES[kind]),
                amount=max(amount, Decimal(10_000)),
                expected_close_on=today + dt.timedelta(days=rng.randint(14, 150)),
                notes=None,
                external_id=f"demo-{account.external_id}-{kind}",
            ),
            actor="demo",
            now=now,
            today=today,
        )
        if stage != "identified":
            view = _advance(session, view, stage, actor="demo", now=now, today=today, rng=rng)
        created += 1
    return created
