"""A small book for the renewal forecast, written through the services: 80 accounts whose yearly
renewal fell in the last year, renewed or churned according to a hidden health that their usage
and meetings show, with a year of weekly scores under the ABC preset and a forecast refreshed."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.accounts import history as account_history
from app.health import forecast as forecast_svc
from app.health import models as health_models
from app.health import snapshots as health_snapshots
from app.ingest.rollups import UsageRow, add_usage
from tests.builders import AS_OF, make_account, make_interaction

TZ = ZoneInfo("Asia/Tokyo")
TODAY = dt.date(2026, 11, 23)
FIRST_SCORE = TODAY - dt.timedelta(weeks=52)
ACCOUNTS = 80


def _year_after(day: dt.date) -> dt.date:
    return day.replace(year=day.year + 1) if (day.month, day.day) != (2, 29) else dt.date(day.year + 1, 2, 28)


def build_forecast_book(session: Session) -> dict[str, Any]:
    rng = random.Random(5)
    health_models.adopt_preset(session, preset="abc", now=AS_OF)
    usage: list[UsageRow] = []
    events: list[account_history.HistoryEventIn] = []
    churned: list[str] = []
    for i in range(ACCOUNTS):
        health = rng.random()
        renewal = FIRST_SCORE + dt.timedelta(days=rng.randint(21, 364))
        start = renewal.replace(year=renewal.year - 1)
        churns = rng.random() < 0.05 + 0.6 * (1 - health) ** 2
        churned_on = renewal - dt.timedelta(days=rng.randint(0, 45)) if churns else None
        external = f"fc-{i:03d}"
        account = make_account(
            session,
            id=external,
            name=f"Forecast {i:03d}",
            licensed_seats=10,
            arr=Decimal(1_000_000 + 50_000 * (i % 7)),
            contract_start_on=start,
            renewal_on=renewal if churns else _year_after(renewal),
            status="churned" if churns else "active",
            churned_on=churned_on,
        )
        assert account.id is not None
        if churns:
            churned.append(external)
        else:
            events.append(
                account_history.HistoryEventIn(
                    account_id=external,
                    kind="renewal",
                    occurred_on=renewal,
                    arr_before=Decimal(account.arr),
                    arr_after=Decimal(account.arr),
                )
            )
        last = churned_on or TODAY
        day = FIRST_SCORE - dt.timedelta(days=40)
        next_meeting = day
        while day <= last:
            fading = churned_on is not None and (churned_on - day).days < 90
            if rng.random() < (0.1 + 0.8 * health) * (0.3 if fading else 1.0):
                for u in range(1 + int(health * 4)):
                    usage.append(UsageRow(account.id, day, "Report Created", f"{external}-u{u}", AS_OF))
            if day >= next_meeting:
                make_interaction(
                    session,
                    account=account,
                    type="meeting",
                    occurred_at=dt.datetime.combine(day, dt.time(3), dt.UTC),
                )
                next_meeting = day + dt.timedelta(days=int(14 + 80 * (1 - health) + rng.randint(0, 10)))
            day += dt.timedelta(days=1)
    make_account(session, id="fc-undated", name="Forecast undated")  # no renewal date to forecast
    add_usage(session, usage, AS_OF)
    account_history.import_history(session, events_in=events, actor="test", now=AS_OF)
    health_snapshots.backfill(session, since=FIRST_SCORE, until=TODAY, step_days=7, tz=TZ, now=AS_OF)
    run = forecast_svc.refresh(session, today=TODAY, now=AS_OF)
    return {"churned": churned, "run_id": run.id}
