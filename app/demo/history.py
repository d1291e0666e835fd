"""Demo account history: each demo account's contract start, yearly renewals with their ARR
before and after, mid-term expansions, and churns, differing by industry so that the industry
tiers come out different (manufacturing and IT renew and expand; hospitality and media churn).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select

from app.accounts import history as account_history
from app.models import Account

#: Per industry: the chance a contract is not renewed at an anniversary (also used by the demo
#: to decide which accounts have churned), and the mean ARR growth at a renewal.
PROFILES: dict[str, tuple[float, float]] = {
    "manufacturing": (0.03, 0.16),
    "it_services": (0.04, 0.14),
    "finance": (0.05, 0.07),
    "professional_services": (0.07, 0.09),
    "healthcare": (0.06, 0.03),
    "logistics": (0.10, 0.04),
    "construction": (0.12, 0.02),
    "real_estate": (0.13, 0.01),
    "retail": (0.14, 0.03),
    "education": (0.15, 0.02),
    "media": (0.20, -0.02),
    "hospitality": (0.24, -0.04),
}
_DEFAULT = (0.10, 0.05)


def churn_probability(industry: str | None) -> float:
    """The share of this industry's demo accounts that churn."""
    return PROFILES.get(industry or "", _DEFAULT)[0]


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def _anniversaries(start: dt.date, until: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    years = 1
    while True:
        try:
            day = start.replace(year=start.year + years)
        except ValueError:  # 29 February
            day = dt.date(start.year + years, 2, 28)
        if day >= until:
            return out
        out.append(day)
        years += 1


def load_demo_history(session: Session, *, rng: random.Random, now: dt.datetime) -> int:
    """Write the demo accounts' renewals and expansions (contract starts and churns were recorded
    when the accounts were created); returns how many events were written."""
    today = now.date()
    events: list[account_history.HistoryEventIn] = []
    accounts = session.exec(
        select(Account).where(col(Account.status) != "deleted").order_by(col(Account.id))
    ).all()
    for account in accounts:
        if account.contract_start_on is None:
            continue
        _, growth = PROFILES.get(account.industry or "", _DEFAULT)
        end = min(today, account.churned_on) if account.churned_on else today
        renewals = _anniversaries(account.contract_start_on, end)
        # Work back from today's ARR: each renewal grew it by about the industry's mean.
        arr = float(account.arr)
        upsell_on = None
        if rng.random() < 0.15 and renewals:
            # A mid-term upsell in the current term: half of that term's growth came then.
            upsell_on = renewals[-1] + dt.timedelta(days=rng.randint(60, 240))
            if upsell_on >= end:
                upsell_on = None
        chain: list[tuple[dt.date, float, float]] = []
        if upsell_on is not None:
            before = arr / (1 + max(0.02, growth / 2 + rng.gauss(0, 0.04)))
            chain.append((upsell_on, before, arr))
            arr = before
        for day in reversed(renewals):
            before = arr / max(0.7, 1 + rng.gauss(growth, 0.06))
            chain.append((day, before, arr))
            arr = before
        events.append(account_history.HistoryEventIn(
            account_id=account.external_id, kind="contract_start",
            occurred_on=account.contract_start_on, arr_after=_money(arr),
        ))
        for day, before, after in reversed(chain):
            events.append(account_history.HistoryEventIn(
                account_id=account.external_id,
                kind="arr_change" if day == upsell_on else "renewal",
                occurred_on=day, arr_before=_money(before), arr_after=_money(after),
            ))
    for start in range(0, len(events), 1000):
        account_history.import_history(session, events_in=events[start:start + 1000],
                                       actor="demo", now=now, source="demo")
    return len(events)
