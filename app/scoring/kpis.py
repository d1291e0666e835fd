"""Team KPIs (domain.md §3): what a CS leader runs the team on, per period, from plain inputs.

Periods are calendar months, quarters, or any inclusive ``start``–``end`` range of days, all in
the team's time zone (the caller turns timestamps into local dates first). Each KPI is computed
for one period; a trend is the same KPI over the 12 periods ending with the chosen one.

- **Renewal rate** = accounts renewed ÷ accounts whose renewal fell due in the period. An account
  is due when it has a ``renewal`` or a ``churn`` event dated in the period (a churn is a renewal
  that did not happen, as the industry tiers count it); it counts as renewed when it renewed in
  the period and did not churn later in the same period. A renewal dated on the last day of the
  period belongs to that period. 9 renewed of 10 due → 90 %.
- **Gross / net revenue retention** over the accounts paying at the start of the period (ARR > 0
  at the end of the day before it starts): net = Σ ARR at the period's end ÷ Σ ARR at its start;
  gross = Σ min(ARR at end, ARR at start) ÷ Σ ARR at start (expansion left out, so ≤ 100 %).
  ¥1.0M and ¥2.0M at the start; the first grows to ¥1.5M, the second churns → net 1.5 ÷ 3.0 = 50 %,
  gross 1.0 ÷ 3.0 ≈ 33 %. Only one currency can be summed: the one most of these accounts use;
  accounts in other currencies are counted apart (``other_currency``).
- **Health score rise**: the score at the end of the day before the period against the score at
  its end (or today, while it runs). Two numbers: the **average of each account's change** (over
  accounts scored at both ends) and the **change of the average** (the average of every account
  scored at the end minus that of every account scored at the start, so accounts that arrive or
  leave move it). Scores 50 → 60 and 70 → 70, plus a new account at 20: average change +5,
  averages 60 → 50, change of the average −10.
- **Customer response rate** = accounts active in the period that clicked a link in our email
  (``email_click``), answered a check-in, posted in the community (``community_post``) or
  attended a webinar, event or community event ÷ accounts active in the period. Registrations
  marked ``attended: false`` do not count.
- **NPS** = % promoters (9–10) − % detractors (0–6) of the period's responses, from −100 to 100;
  4 promoters, 1 passive, 3 detractors of 8 → 50 % − 37.5 % = 12.5.
- **Coverage** = accounts active in the period that our team touched (a meeting, call, sent
  email or training) ÷ accounts active in the period.
- **Tasks done on time** = tasks due in the period and done no later than their due date ÷ tasks
  due in the period that were not dismissed; a task due today that is still open is not late yet.
- **Weekly list verdicts**: items on the weekly lists whose Monday is in the period marked done
  ÷ items marked done or "not actionable" (items still open are counted beside, not in the rate).

An account is **active in a period** when its contract started by the period's end (or has no
start date) and it was not churned before the period began. A ratio whose denominator is zero
has no value (``None``), never a division by zero.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

PERIOD_KINDS = ("month", "quarter", "range")
_Row = TypeVar("_Row")
#: How many periods a trend shows, the chosen one last.
TREND_PERIODS = 12
#: The longest range a custom period may span (a trend then covers 12 of them).
MAX_RANGE_DAYS = 366

TOUCH_TYPES = frozenset({"meeting", "call", "email_sent", "training"})
ATTENDANCE_TYPES = frozenset({"webinar", "event", "community"})
#: ``checkin_answer`` stands for an ``email_reply`` that answers a check-in.
RESPONSE_TYPES = frozenset({"email_click", "checkin_answer", "community_post"}) | ATTENDANCE_TYPES
#: NPS: 9–10 promote, 7–8 are passive, 0–6 detract.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
#: Within one day, events apply in this order (a contract starts before it can change or end).
_KIND_ORDER = {"contract_start": 0, "arr_change": 1, "renewal": 2, "churn": 3}

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)

KPI_KEYS = (
    "renewal_rate",
    "gross_revenue_retention",
    "net_revenue_retention",
    "score_change_per_account",
    "average_score_change",
    "response_rate",
    "nps",
    "coverage",
    "tasks_on_time",
    "weekly_list_done",
)

#: What each KPI means, in the words shown beside the number (translated on the pages).
DEFINITIONS: dict[str, str] = {
    "renewal_rate": (
        "Accounts renewed ÷ accounts whose renewal fell due in the period (renewed or churned "
        "there). An account that renewed and then churned in the same period counts as churned."
    ),
    "gross_revenue_retention": (
        "ARR kept from the accounts paying at the start of the period, expansion left out: "
        "Σ min(ARR at end, ARR at start) ÷ Σ ARR at start."
    ),
    "net_revenue_retention": (
        "ARR at the end of the period of the accounts paying at its start, expansion and "
        "contraction included: Σ ARR at end ÷ Σ ARR at start."
    ),
    "score_change_per_account": (
        "The average of each account's health score change from the day before the period to "
        "its end (or today), over accounts scored at both ends."
    ),
    "average_score_change": (
        "The average health score at the end of the period minus the average at its start, over "
        "every account scored at each end (new and lost accounts move it)."
    ),
    "response_rate": (
        "Share of active accounts that in the period clicked a link in our email, answered a "
        "check-in, posted in the community or attended a webinar or event."
    ),
    "nps": (
        "Net Promoter Score: % promoters (9–10) − % detractors (0–6) among the period's NPS "
        "responses, from −100 to 100."
    ),
    "coverage": (
        "Share of active accounts our team touched in the period: a meeting, call, sent email or training."
    ),
    "tasks_on_time": (
        "Tasks due in the period done by their due date ÷ tasks due in the period (dismissed "
        "tasks left out; an open task due today is not late yet)."
    ),
    "weekly_list_done": (
        "Weekly-list items of the period marked done ÷ items marked done or not actionable "
        "(open items are not counted)."
    ),
}


# -- periods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end`` inclusive, in the team's time zone."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def key(self) -> str:
        """``2026-10``, ``2026-Q3`` or ``2026-10-05..2026-11-04``."""
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        """Whether a local date is in the period (a timestamp's date depends on the time zone:
        the caller converts it first, so a datetime is never in a period)."""
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            return False
        return self.start <= day <= self.end


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _month_end(year: int, month: int) -> dt.date:
    next_year, next_month = _add_months(year, month, 1)
    return dt.date(next_year, next_month, 1) - dt.timedelta(days=1)


def month_of(day: dt.date) -> Period:
    """The calendar month holding ``day``."""
    return Period("month", day.replace(day=1), _month_end(day.year, day.month))


def quarter_of(day: dt.date) -> Period:
    """The calendar quarter holding ``day`` (Q1 = January–March)."""
    first = (day.month - 1) // 3 * 3 + 1
    return Period("quarter", dt.date(day.year, first, 1), _month_end(day.year, first + 2))


def date_range(start: dt.date, end: dt.date) -> Period:
    """Any span of 1 to :data:`MAX_RANGE_DAYS` days; ValueError otherwise."""
    if end < start:
        raise ValueError("the end is before the start")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"a range spans at most {MAX_RANGE_DAYS} days")
    return Period("range", start, end)


def parse_period(value: str) -> Period:
    """``2026-10`` (a month) or ``2026-Q3`` (a quarter); ValueError for anything else."""
    text = value.strip()
    if match := _MONTH.match(text):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or year < 1:
            raise ValueError("not a month")
        return month_of(dt.date(year, month, 1))
    if match := _QUARTER.match(text):
        year = int(match.group(1))
        if year < 1:
            raise ValueError("not a quarter")
        return quarter_of(dt.date(year, (int(match.group(2)) - 1) * 3 + 1, 1))
    raise ValueError("use YYYY-MM for a month or YYYY-Qn for a quarter")


def previous(period: Period) -> Period:
    """The period just before, of the same kind (a range: as many days, ending the day before)."""
    if period.kind == "month":
        return month_of(period.start - dt.timedelta(days=1))
    if period.kind == "quarter":
        return quarter_of(period.start - dt.timedelta(days=1))
    end = period.start - dt.timedelta(days=1)
    return Period("range", end - dt.timedelta(days=period.days - 1), end)


def trail(period: Period, count: int = TREND_PERIODS) -> list[Period]:
    """The ``count`` periods ending with ``period``, oldest first."""
    out = [period]
    while len(out) < count:
        out.append(previous(out[-1]))
    return out[::-1]


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountIn:
    id: int
    status: str  # active | churned
    contract_start_on: dt.date | None
    churned_on: dt.date | None
    arr: Decimal
    currency: str = "JPY"


@dataclass(frozen=True)
class HistoryIn:
    """A commercial event (``account_history``): its ARR before and after."""

    account_id: int
    kind: str  # contract_start | renewal | churn | arr_change
    on: dt.date
    arr_before: Decimal | None
    arr_after: Decimal | None


@dataclass(frozen=True)
class ActivityIn:
    """An interaction on a local date; ``type`` is the interaction's, or ``checkin_answer``."""

    account_id: int
    on: dt.date
    type: str
    attended: bool = True


@dataclass(frozen=True)
class NpsIn:
    account_id: int
    on: dt.date
    score: int
    comment: str | None = None


@dataclass(frozen=True)
class TaskIn:
    due_on: dt.date
    status: str  # open | done | snoozed | closed (dismissed)
    done_on: dt.date | None = None


@dataclass(frozen=True)
class ItemIn:
    """A weekly-list item: its list's Monday and the CSM's verdict."""

    week_start: dt.date
    status: str  # open | done | not_actionable


@dataclass(frozen=True)
class KpiInputs:
    """Everything the KPIs of a trend read. ``scores[day]`` maps each account to its health
    score at the end of ``day`` (the latest stored score on or shortly before it)."""

    accounts: Sequence[AccountIn] = ()
    history: Sequence[HistoryIn] = ()
    activities: Sequence[ActivityIn] = ()
    nps: Sequence[NpsIn] = ()
    tasks: Sequence[TaskIn] = ()
    items: Sequence[ItemIn] = ()
    scores: Mapping[dt.date, Mapping[int, float]] = field(default_factory=dict)


# -- results -----------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Renewal:
    account_id: int
    on: dt.date  # the renewal (or churn) date that fell in the period
    outcome: str  # renewed | churned
    arr_before: Decimal | None
    arr_after: Decimal | None


@dataclass(frozen=True)
class Renewals:
    outcomes: tuple[Renewal, ...]

    @property
    def renewed(self) -> int:
        return sum(1 for r in self.outcomes if r.outcome == "renewed")

    @property
    def due(self) -> int:
        return len(self.outcomes)

    @property
    def churned(self) -> int:
        return self.due - self.renewed

    @property
    def rate(self) -> float | None:
        return _ratio(self.renewed, self.due)


@dataclass(frozen=True)
class Retention:
    currency: str | None
    accounts: int  # paying at the start, in ``currency``
    start_arr: Decimal
    end_arr: Decimal
    kept_arr: Decimal  # Σ min(end, start)
    expansion: Decimal
    contraction: Decimal
    churned_arr: Decimal
    other_currency: int  # accounts paying at the start in another currency, left out

    @property
    def gross(self) -> float | None:
        return _ratio(float(self.kept_arr), float(self.start_arr))

    @property
    def net(self) -> float | None:
        return _ratio(float(self.end_arr), float(self.start_arr))


@dataclass(frozen=True)
class ScoreRise:
    accounts: int  # scored at both ends
    total_change: float
    start_accounts: int
    start_average: float | None
    end_accounts: int
    end_average: float | None

    @property
    def per_account(self) -> float | None:
        return self.total_change / self.accounts if self.accounts else None

    @property
    def change_of_average(self) -> float | None:
        if self.start_average is None or self.end_average is None:
            return None
        return self.end_average - self.start_average


@dataclass(frozen=True)
class Share:
    """``count`` of ``of`` (accounts, tasks or items)."""

    count: int
    of: int

    @property
    def rate(self) -> float | None:
        return _ratio(self.count, self.of)


@dataclass(frozen=True)
class Nps:
    promoters: int
    passives: int
    detractors: int

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        n = self.responses
        return (self.promoters - self.detractors) * 100 / n if n else None


@dataclass(frozen=True)
class Verdicts:
    done: int
    rejected: int
    open: int

    @property
    def rate(self) -> float | None:
        return _ratio(self.done, self.done + self.rejected)


@dataclass(frozen=True)
class KpiValue:
    """One KPI of one period in the shape the API and pages show: value with its parts."""

    key: str
    value: float | None
    numerator: float | None
    denominator: float | None
    unit: str  # ratio (0–1) | points (score points) | nps (−100–100)


@dataclass(frozen=True)
class PeriodKpis:
    period: Period
    renewals: Renewals
    retention: Retention
    score: ScoreRise
    active: int
    responded: Share
    nps: Nps
    coverage: Share
    tasks: Share
    verdicts: Verdicts

    def values(self) -> list[KpiValue]:
        """Every KPI in :data:`KPI_KEYS` order."""
        r, s = self.retention, self.score
        return [
            KpiValue("renewal_rate", self.renewals.rate, self.renewals.renewed, self.renewals.due, "ratio"),
            KpiValue("gross_revenue_retention", r.gross, float(r.kept_arr), float(r.start_arr), "ratio"),
            KpiValue("net_revenue_retention", r.net, float(r.end_arr), float(r.start_arr), "ratio"),
            KpiValue("score_change_per_account", s.per_account, s.total_change, s.accounts, "points"),
            KpiValue("average_score_change", s.change_of_average, None, None, "points"),
            KpiValue("response_rate", self.responded.rate, self.responded.count, self.responded.of, "ratio"),
            KpiValue(
                "nps", self.nps.score, self.nps.promoters - self.nps.detractors, self.nps.responses, "nps"
            ),
            KpiValue("coverage", self.coverage.rate, self.coverage.count, self.coverage.of, "ratio"),
            KpiValue("tasks_on_time", self.tasks.rate, self.tasks.count, self.tasks.of, "ratio"),
            KpiValue(
                "weekly_list_done",
                self.verdicts.rate,
                self.verdicts.done,
                self.verdicts.done + self.verdicts.rejected,
                "ratio",
            ),
        ]


# -- the KPIs ----------------------------------------------------------------------------------


def active_in(account: AccountIn, period: Period) -> bool:
    """Contract started by the period's end and not churned before it began."""
    if account.contract_start_on is not None and account.contract_start_on > period.end:
        return False
    if account.status == "active":
        return True
    return account.churned_on is not None and account.churned_on >= period.start


def renewals(history: Iterable[HistoryIn], period: Period) -> Renewals:
    """Each account whose renewal fell due in the period, renewed or churned (a churn after a
    renewal in the same period wins)."""
    last: dict[int, HistoryIn] = {}
    for event in sorted(history, key=lambda e: (e.on, _KIND_ORDER.get(e.kind, 9))):
        if event.kind in ("renewal", "churn") and event.on in period:
            last[event.account_id] = event
    return Renewals(
        tuple(
            Renewal(a, e.on, "renewed" if e.kind == "renewal" else "churned", e.arr_before, e.arr_after)
            for a, e in sorted(last.items())
        )
    )


def arr_on(events: Sequence[HistoryIn], day: dt.date, account: AccountIn) -> Decimal:
    """An account's ARR at the end of ``day`` from its events (sorted by date and kind): the
    last event's ARR after; before its first event, that event's ARR before (none before a
    contract start: not yet a customer). Without events, the current ARR while active."""
    before = [e for e in events if e.on <= day]
    if before:
        last = before[-1]
        return Decimal(0) if last.kind == "churn" else (last.arr_after or Decimal(0))
    if events:
        return events[0].arr_before or Decimal(0)
    if account.contract_start_on is not None and account.contract_start_on > day:
        return Decimal(0)
    if account.status != "active" and (account.churned_on is None or account.churned_on <= day):
        return Decimal(0)
    return account.arr


def retention(accounts: Sequence[AccountIn], history: Iterable[HistoryIn], period: Period) -> Retention:
    """Gross and net revenue retention of the accounts paying at the start of the period."""
    by_account: dict[int, list[HistoryIn]] = {}
    for event in sorted(history, key=lambda e: (e.on, _KIND_ORDER.get(e.kind, 9))):
        by_account.setdefault(event.account_id, []).append(event)
    eve = period.start - dt.timedelta(days=1)
    paying = []
    for account in accounts:
        events = by_account.get(account.id, [])
        start = arr_on(events, eve, account)
        if start > 0:
            paying.append((account, start, arr_on(events, period.end, account)))
    currencies = Counter(a.currency for a, _, _ in paying)
    # The most used currency; a tie goes to the alphabetically first, so the choice is stable.
    currency = min(currencies, key=lambda c: (-currencies[c], c)) if currencies else None
    zero = Decimal(0)
    start_arr = end_arr = kept = expansion = contraction = churned = zero
    counted = 0
    for account, start, end in paying:
        if account.currency != currency:
            continue
        counted += 1
        start_arr += start
        end_arr += end
        kept += min(start, end)
        if end > start:
            expansion += end - start
        elif end == 0:
            churned += start
        elif end < start:
            contraction += start - end
    return Retention(
        currency, counted, start_arr, end_arr, kept, expansion, contraction, churned, len(paying) - counted
    )


def score_rise(start: Mapping[int, float], end: Mapping[int, float]) -> ScoreRise:
    """Each account's change and the change of the average between two sets of scores."""
    both = [a for a in end if a in start]
    return ScoreRise(
        accounts=len(both),
        total_change=sum(end[a] - start[a] for a in both),
        start_accounts=len(start),
        start_average=_mean(list(start.values())),
        end_accounts=len(end),
        end_average=_mean(list(end.values())),
    )


def responded(activity: ActivityIn) -> bool:
    """Whether an interaction is a customer's response (an attendance only when attended)."""
    if activity.type in ATTENDANCE_TYPES:
        return activity.attended
    return activity.type in RESPONSE_TYPES


def share_with(active: set[int], activities: Iterable[ActivityIn], period: Period, *, touch: bool) -> Share:
    """Active accounts with a touch (``touch``) or a customer response in the period."""
    hit = {
        a.account_id
        for a in activities
        if a.on in period and a.account_id in active and (a.type in TOUCH_TYPES if touch else responded(a))
    }
    return Share(len(hit), len(active))


def nps(responses: Iterable[NpsIn]) -> Nps:
    """Promoters, passives and detractors of these responses."""
    promoters = passives = detractors = 0
    for response in responses:
        if response.score >= PROMOTER_MIN:
            promoters += 1
        elif response.score <= DETRACTOR_MAX:
            detractors += 1
        else:
            passives += 1
    return Nps(promoters, passives, detractors)


def tasks_on_time(tasks: Iterable[TaskIn], period: Period, *, today: dt.date) -> Share:
    """Tasks due in the period done by their due date, of those due there and not dismissed."""
    on_time = judged = 0
    for task in tasks:
        if task.due_on not in period or task.status == "closed":
            continue
        done = task.status == "done"
        if not done and task.due_on >= today:
            continue  # still open and not late yet
        judged += 1
        if done and task.done_on is not None and task.done_on <= task.due_on:
            on_time += 1
    return Share(on_time, judged)


def verdicts(items: Iterable[ItemIn], period: Period) -> Verdicts:
    """The verdicts on weekly-list items whose Monday falls in the period."""
    counts = Counter(i.status for i in items if i.week_start in period)
    return Verdicts(counts["done"], counts["not_actionable"], counts["open"])


def score_days(periods: Sequence[Period], *, today: dt.date) -> list[dt.date]:
    """The days whose scores the trend needs: the eve of each period and the last one's end
    (today while it runs)."""
    days = {p.start - dt.timedelta(days=1) for p in periods}
    days |= {min(p.end, today) for p in periods}
    return sorted(days)


def period_kpis(inputs: KpiInputs, period: Period, *, today: dt.date) -> PeriodKpis:
    """Every KPI of one period."""
    active = {a.id for a in inputs.accounts if active_in(a, period)}
    eve = period.start - dt.timedelta(days=1)
    return PeriodKpis(
        period=period,
        renewals=renewals(inputs.history, period),
        retention=retention(inputs.accounts, inputs.history, period),
        score=score_rise(inputs.scores.get(eve, {}), inputs.scores.get(min(period.end, today), {})),
        active=len(active),
        responded=share_with(active, inputs.activities, period, touch=False),
        nps=nps(r for r in inputs.nps if r.on in period),
        coverage=share_with(active, inputs.activities, period, touch=True),
        tasks=tasks_on_time(inputs.tasks, period, today=today),
        verdicts=verdicts(inputs.items, period),
    )


def _sorted_by(rows: Iterable[_Row], day: Callable[[_Row], dt.date]) -> tuple[list[_Row], list[dt.date]]:
    ordered = sorted(rows, key=day)
    return ordered, [day(r) for r in ordered]


def _within(rows: tuple[list[_Row], list[dt.date]], period: Period) -> list[_Row]:
    ordered, days = rows
    return ordered[bisect_left(days, period.start) : bisect_right(days, period.end)]


def trend(inputs: KpiInputs, periods: Sequence[Period], *, today: dt.date) -> list[PeriodKpis]:
    """The KPIs of each period, oldest first (each period reads only its own slice of the dated
    inputs: a year of interactions is sorted once, not scanned twelve times)."""
    activities = _sorted_by(inputs.activities, lambda a: a.on)
    responses = _sorted_by(inputs.nps, lambda r: r.on)
    tasks = _sorted_by(inputs.tasks, lambda t: t.due_on)
    items = _sorted_by(inputs.items, lambda i: i.week_start)
    return [
        period_kpis(
            replace(
                inputs,
                activities=_within(activities, p),
                nps=_within(responses, p),
                tasks=_within(tasks, p),
                items=_within(items, p),
            ),
            p,
            today=today,
        )
        for p in periods
    ]
