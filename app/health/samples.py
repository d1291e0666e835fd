"""The book's own history as samples a model can be fitted and judged on.

**The protocol.** Reference dates fall every ``cadence_days`` days counted back from today, so
that every horizon shares them. The first is the first date with a month of usage data behind
it; for a horizon of *h* days the last is today − *h*, the newest date whose outcome is known. At
each reference date every account that was a customer then (contract started, not yet churned)
is one sample: the model's measures as they were on that date (usage, interactions, ratings,
contacts' roles and the account's attributes as recorded then) and the number of days until it
churned, if it did. An account *churned within the horizon* when its churn date falls in the
*h* days after the reference date.

**Out of time.** The newest third of the reference dates (at least two) is the test set; a model
is fitted — its thresholds and weights, or only the map from score to probability — on the older
dates whose outcomes were already known at the first test date (reference date + horizon ≤ first
test date), so nothing it learns comes from the period it is judged on. When that leaves fewer
than three dates, every date before the first test date is used, and the protocol says so
(``gap`` false).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from app.errors import InvalidInput
from app.health import assignments
from app.health.spec import ModelSpec, to_model_def
from app.health.values import ACCOUNT, USAGE_ACCOUNT_DAY, AccountFacts, compute_values, load_accounts
from app.scoring.calibration import Sample
from app.scoring.health import stale_flags

#: The horizons every validation reports side by side.
HORIZONS = (30, 60, 90, 180)
#: At most this many reference dates (a backtest costs one scoring of the book per date).
MAX_REFERENCE_DATES = 60
#: Usage behind the first reference date: the measures' usual window.
WARM_UP_DAYS = 30


@dataclass(frozen=True)
class Protocol:
    """Which samples a validation used: the reference dates, the horizon, the split."""

    horizon_days: int
    cadence_days: int
    reference_dates: tuple[dt.date, ...]
    train_dates: tuple[dt.date, ...]
    test_dates: tuple[dt.date, ...]
    #: True when every training outcome was known before the first test date.
    gap: bool
    #: Who counts at a date: accounts that were customers then (started, not yet churned) —
    #: all of them (``customers_on_date``), or only those whose primary model is the model
    #: judged (``primary_model_customers``, when models are assigned per segment).
    accounts: str = "customers_on_date"


def first_usable_date(session: Session) -> dt.date | None:
    """The first day with a month of usage behind it (None without usage)."""
    first = session.execute(select(func.min(USAGE_ACCOUNT_DAY.c.day))).scalar_one_or_none()
    if first is None:
        return None
    if isinstance(first, str):  # SQLite without type affinity for a bare aggregate
        first = dt.date.fromisoformat(first)
    return first + dt.timedelta(days=WARM_UP_DAYS)


def reference_grid(
    session: Session,
    *,
    today: dt.date,
    cadence_days: int,
    shortest_horizon: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dt.date]:
    """Reference dates, oldest first: every ``cadence_days`` back from ``end`` (default: today,
    so the dates of every horizon coincide) down to ``start`` (default: the first usable date),
    keeping those at least ``shortest_horizon`` days old."""
    if end is not None and end > today:
        raise InvalidInput.field("end", "reference dates must be in the past")
    anchor = end or today
    first = start or first_usable_date(session)
    if first is None:
        return []
    last = min(anchor, today - dt.timedelta(days=shortest_horizon))
    dates: list[dt.date] = []
    day = anchor
    while day >= first and len(dates) < MAX_REFERENCE_DATES:
        if day <= last:
            dates.append(day)
        day -= dt.timedelta(days=cadence_days)
    return sorted(dates)


def scope(session: Session, model_id: int) -> set[int] | None:
    """The accounts a model is judged on: those whose primary model it is (models per segment),
    or every account when it is nobody's primary model (a model being tried out)."""
    if assignments.load(session).single:
        return None
    mine = {a for a, m in assignments.primary_models(session).items() if m == model_id}
    return mine or None


def protocol(
    grid: list[dt.date], *, horizon_days: int, cadence_days: int, today: dt.date, scoped: bool = False
) -> Protocol:
    """The out-of-time split of ``grid`` for one horizon (dates whose outcome is unknown left out)."""
    who = "primary_model_customers" if scoped else "customers_on_date"
    dates = tuple(d for d in grid if d + dt.timedelta(days=horizon_days) <= today)
    if len(dates) < 3:
        return Protocol(horizon_days, cadence_days, dates, (), dates, False, who)
    n_test = max(2, len(dates) // 3)
    test = dates[-n_test:]
    known = tuple(d for d in dates[:-n_test] if d + dt.timedelta(days=horizon_days) <= test[0])
    if len(known) >= 3:
        return Protocol(horizon_days, cadence_days, dates, known, test, True, who)
    return Protocol(horizon_days, cadence_days, dates, dates[:-n_test], test, False, who)


class BookHistory:
    """Samples of the book at reference dates for one model definition, each date computed once."""

    def __init__(
        self, session: Session, spec: ModelSpec, *, tz: ZoneInfo, account_ids: set[int] | None = None
    ) -> None:
        self.session = session
        #: Only these accounts (those whose primary model this is), or every account.
        self.account_ids = account_ids
        self.spec = spec
        self.model = to_model_def(spec)
        self.tz = tz
        self._by_date: dict[dt.date, list[Sample]] = {}
        self.churned_on: dict[int, dt.date] = {
            id_: day
            for id_, day in session.execute(
                select(ACCOUNT.c.id, ACCOUNT.c.churned_on).where(ACCOUNT.c.churned_on.is_not(None))
            ).all()
        }
        self.segment: dict[int, str | None] = {
            id_: segment for id_, segment in session.execute(select(ACCOUNT.c.id, ACCOUNT.c.segment)).all()
        }

    def customers(self, ref: dt.date) -> list[AccountFacts]:
        """The accounts that were customers at the end of ``ref``."""
        return [
            a
            for a in load_accounts(self.session, as_of=ref, include_churned=True, tz=self.tz)
            if ((gone := self.churned_on.get(a.id)) is None or gone > ref)
            and (self.account_ids is None or a.id in self.account_ids)
        ]

    def samples(self, dates: tuple[dt.date, ...] | list[dt.date]) -> list[Sample]:
        out: list[Sample] = []
        for ref in dates:
            found = self._by_date.get(ref)
            if found is None:
                found = self._by_date[ref] = self._compute(ref)
            out.extend(found)
        return out

    def _compute(self, ref: dt.date) -> list[Sample]:
        accounts = self.customers(ref)
        values = compute_values(self.session, self.spec, accounts=accounts, as_of=ref, tz=self.tz)
        stale = stale_flags(self.model, values.data_as_of, as_of=ref)
        columns = [
            [None] * len(column) if is_stale else column
            for column, is_stale in zip(values.columns, stale, strict=True)
        ]
        rows = list(zip(*columns, strict=True)) if columns else [() for _ in accounts]
        return [
            Sample(
                account_id=a.id,
                ref=ref,
                values=tuple(row),
                churn_in_days=None if (gone := self.churned_on.get(a.id)) is None else (gone - ref).days,
                segment=self.segment.get(a.id),
            )
            for a, row in zip(values.accounts, rows, strict=True)
        ]
