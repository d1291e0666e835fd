"""The expansion (upsell) pipeline: stage rules, the weighted pipeline, and expansion signals.

**Stages.** An opportunity is open in ``identified → qualified → proposal → committed`` and
closed as ``won`` or ``lost``. Any open stage may move to any other stage (deals skip steps and
fall back); a closed one may be reopened. The rules checked on every write
(``stage_problems``): a lost opportunity names its reason, and only a lost one has a reason;
from ``proposal`` on the amount is known (above 0); a ``committed`` one has an expected close
date. Won and lost record the day they closed.

**Weighted pipeline.** Each stage has a win probability (defaults 10 %, 25 %, 50 %, 80 %;
won 100 %, lost 0 %); an opportunity's weighted amount is its amount × that probability, and the
pipeline is the sum per stage (and per industry tier) in each currency. Example: ¥1,000,000 in
proposal (50 %) and ¥400,000 committed (80 %) weigh ¥500,000 + ¥320,000 = ¥820,000 of ¥1,400,000.

**Expansion signals** (``detect``), from plain facts about one account:

* ``seats_nearly_full`` — distinct active users of the last 30 days ÷ licensed seats is at least
  90 % (46 of 50 seats → 92 % fires; 44 of 50 → 88 % does not), with at least 5 seats. The
  suggestion is an ``upsell_seats`` opportunity for 20 % more seats (at least one) at the
  account's ARR per seat: 50 seats, ¥3,000,000 ARR → 10 seats × ¥60,000 = ¥600,000.
* ``usage_growth`` — events of the last 28 days are at least 30 % above the 28 days before,
  which had at least 100 events (130 after 100 fires; 129 does not). The suggestion is an
  ``upgrade_plan`` opportunity for 20 % of the ARR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

STAGES: tuple[str, ...] = ("identified", "qualified", "proposal", "committed", "won", "lost")
OPEN_STAGES: tuple[str, ...] = ("identified", "qualified", "proposal", "committed")
CLOSED_STAGES: tuple[str, ...] = ("won", "lost")
#: From this stage on the amount must be known.
PRICED_FROM = "proposal"
SIGNAL_KINDS: tuple[str, ...] = ("seats_nearly_full", "usage_growth")
#: The kind of opportunity each signal suggests.
SUGGESTED_KIND = {"seats_nearly_full": "upsell_seats", "usage_growth": "upgrade_plan"}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PipelineRules:
    """Win probabilities per stage (the weights of the weighted pipeline)."""

    # ¥1,000,000 in proposal weighs ¥500,000.
    probabilities: tuple[tuple[str, float], ...] = (
        ("identified", 0.10),
        ("qualified", 0.25),
        ("proposal", 0.50),
        ("committed", 0.80),
        ("won", 1.0),
        ("lost", 0.0),
    )

    def probability(self, stage: str) -> float:
        return dict(self.probabilities)[stage]


@dataclass(frozen=True)
class SignalRules:
    """Tunable numbers of the expansion signals and their suggested amounts."""

    # 46 of 50 seats used (92 %) fires; 44 of 50 (88 %) does not.
    seats_full_share: float = 0.90
    # Accounts with fewer seats (a 3-seat trial) are not upsell candidates by this rule.
    min_seats: int = 5
    # Suggest 20 % more seats, at least one: 50 → 10 more, 4 → 1 more.
    extra_seats_share: float = 0.20
    # 28 days against the 28 before: 130 after 100 (+30 %) fires, 129 does not.
    growth_window_days: int = 28
    growth_ratio: float = 1.30
    growth_min_baseline: int = 100
    # A plan upgrade is suggested at 20 % of the ARR: ¥3,000,000 → ¥600,000.
    upgrade_share: float = 0.20


@dataclass(frozen=True)
class ExpansionInputs:
    """Facts about one account (None: unknown)."""

    licensed_seats: int | None = None
    users_30d: int = 0  # distinct active users in the last 30 days
    events_recent: int = 0  # events in the last ``growth_window_days``
    events_prior: int = 0  # events in the window before that
    arr: Decimal = Decimal(0)


@dataclass(frozen=True)
class ExpansionSignal:
    """A signal that fired, with the facts that fired it and the opportunity it suggests."""

    kind: str
    opportunity_kind: str
    amount: Decimal
    data: dict[str, Any]


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def extra_seats(seats: int, rules: SignalRules = SignalRules()) -> int:
    """How many more seats to suggest: 20 % of the seats, rounded up, at least one."""
    return max(1, math.ceil(seats * rules.extra_seats_share - 1e-9))


def detect(inputs: ExpansionInputs, rules: SignalRules = SignalRules()) -> list[ExpansionSignal]:
    """Every expansion signal that fires for the account, with its facts and suggested amount."""
    found: list[ExpansionSignal] = []
    seats = inputs.licensed_seats
    if seats is not None and seats >= rules.min_seats:
        share = inputs.users_30d / seats
        if share >= rules.seats_full_share - 1e-9:
            more = extra_seats(seats, rules)
            per_seat = inputs.arr / seats
            found.append(
                ExpansionSignal(
                    "seats_nearly_full",
                    "upsell_seats",
                    _money(per_seat * more),
                    {
                        "licensed_seats": seats,
                        "active_users_30d": inputs.users_30d,
                        "seat_use": round(share, 4),
                        "threshold": rules.seats_full_share,
                        "extra_seats": more,
                        "arr_per_seat": float(_money(per_seat)),
                    },
                )
            )
    if inputs.events_prior >= rules.growth_min_baseline:
        ratio = inputs.events_recent / inputs.events_prior
        if ratio >= rules.growth_ratio - 1e-9:
            found.append(
                ExpansionSignal(
                    "usage_growth",
                    "upgrade_plan",
                    _money(inputs.arr * Decimal(str(rules.upgrade_share))),
                    {
                        "events_recent": inputs.events_recent,
                        "events_prior": inputs.events_prior,
                        "growth": round(ratio - 1, 4),
                        "threshold": round(rules.growth_ratio - 1, 4),
                        "window_days": rules.growth_window_days,
                    },
                )
            )
    return found


def stage_problems(
    stage: str, *, amount: Decimal, expected_close_on: Any, lost_reason: str | None
) -> list[tuple[str, str]]:
    """Why an opportunity in ``stage`` with these fields is not acceptable, as (field, message)
    pairs; empty if it is."""
    out: list[tuple[str, str]] = []
    if stage not in STAGES:
        return [("stage", f"must be one of {', '.join(STAGES)}")]
    if stage == "lost" and not lost_reason:
        out.append(("lost_reason", "say why it was lost"))
    if stage != "lost" and lost_reason:
        out.append(("lost_reason", "only a lost opportunity has a lost reason"))
    if STAGES.index(stage) >= STAGES.index(PRICED_FROM) and stage != "lost" and amount <= 0:
        out.append(("amount", f"must be above 0 from the {PRICED_FROM} stage on"))
    if stage == "committed" and expected_close_on is None:
        out.append(("expected_close_on", "a committed opportunity needs an expected close date"))
    return out


def weighted(amount: Decimal, stage: str, rules: PipelineRules = PipelineRules()) -> Decimal:
    """The amount × the stage's win probability, to the cent (¥1,000,000 in proposal → ¥500,000)."""
    return _money(amount * Decimal(str(rules.probability(stage))))


@dataclass(frozen=True)
class PipelineItem:
    """One opportunity, or ``count`` of them in the same stage, currency and tier with their
    amounts summed (the weighted amount is then rounded once for the group)."""

    stage: str
    amount: Decimal
    currency: str
    tier: int | None = None
    count: int = 1


@dataclass
class Bucket:
    """Totals of one group: how many, their amount and weighted amount (one currency)."""

    key: str
    currency: str
    count: int = 0
    amount: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)

    def add(self, amount: Decimal, weight: Decimal, count: int = 1) -> None:
        self.count += count
        self.amount += amount
        self.weighted += weight


@dataclass
class Pipeline:
    """The pipeline by stage (every stage, in order) and, for open opportunities, by tier and in
    total; one bucket per currency present (JPY first)."""

    currencies: list[str] = field(default_factory=list)
    by_stage: list[Bucket] = field(default_factory=list)
    by_tier: list[Bucket] = field(default_factory=list)
    open_total: list[Bucket] = field(default_factory=list)


def tier_key(tier: int | None) -> str:
    return "none" if tier is None else str(tier)


def pipeline(
    items: Iterable[PipelineItem],
    rules: PipelineRules = PipelineRules(),
    *,
    default_currency: str = "JPY",
) -> Pipeline:
    """Totals and weighted amounts by stage, by tier (open only) and for the open pipeline; an
    empty pipeline shows every stage at zero in ``default_currency``."""
    stage: dict[tuple[str, str], Bucket] = {}
    tier: dict[tuple[str, str], Bucket] = {}
    total: dict[str, Bucket] = {}
    currencies: set[str] = set()
    for item in items:
        currencies.add(item.currency)
        weight = weighted(item.amount, item.stage, rules)
        key = (item.stage, item.currency)
        n = item.count
        stage.setdefault(key, Bucket(item.stage, item.currency)).add(item.amount, weight, n)
        if item.stage in OPEN_STAGES:
            t = (tier_key(item.tier), item.currency)
            tier.setdefault(t, Bucket(t[0], item.currency)).add(item.amount, weight, n)
            total.setdefault(item.currency, Bucket("open", item.currency)).add(item.amount, weight, n)
    ordered = sorted(currencies or {default_currency}, key=lambda c: (c != "JPY", c))
    tiers = ("1", "2", "3", "4", "none")
    return Pipeline(
        currencies=ordered,
        by_stage=[stage.get((s, c), Bucket(s, c)) for c in ordered for s in STAGES],
        by_tier=[tier[(t, c)] for c in ordered for t in tiers if (t, c) in tier],
        open_total=[total[c] for c in ordered if c in total],
    )
