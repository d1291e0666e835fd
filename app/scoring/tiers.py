"""Industry tiers: which industries are worth targeting, from their renewal and expansion record.

Per industry, over a lookback window (default the last 24 months):

- **renewal rate** = renewals ÷ renewals due, where a renewal due is a renewal or a churn in the
  window (a churn is a renewal that did not happen);
- **expansion rate** = ARR growth among the renewed: Σ ARR after each renewal ÷ Σ ARR at the start
  of the term it ended, minus 1 (mid-term upsells therefore count).

The tier is the first cut (tier 1, then 2, then 3) whose minimum renewal rate and minimum
expansion rate the industry meets; an industry that meets none is tier 4. Only tier 1 is a
**target** (domain.md §1). An industry with fewer renewals due than ``min_renewals_due`` gets no
computed tier ("insufficient data") rather than a tier from two or three contracts. A manual
override, when present, beats the computed tier and is shown beside it.

Worked example with the default cuts (tier 1: ≥ 90 % renewed and ≥ 10 % expansion; tier 2:
≥ 85 % and ≥ 0 %; tier 3: ≥ 75 %; sample ≥ 10 renewals due):

- manufacturing: 20 due, 19 renewed (95 %), renewed ARR ¥12.0M → ¥13.8M (+15 %) → tier 1, target;
- retail: 20 due, 18 renewed (90 %), ARR +4 % → misses tier 1 on expansion → tier 2;
- hospitality: 16 due, 12 renewed (75 %) → tier 3; 11 of 16 (68.75 %) → tier 4;
- education: 8 due → fewer than 10 → no tier, "insufficient data".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TIER_STATUSES = ("tiered", "insufficient_data", "override")


@dataclass(frozen=True)
class TierCut:
    """The minimums an industry must meet to be in ``tier``; ``None`` means no minimum."""

    tier: int
    min_renewal_rate: float
    min_expansion_rate: float | None = None


@dataclass(frozen=True)
class TierConfig:
    #: Results of the last two years decide the tiers (domain.md §1).
    lookback_months: int = 24
    #: 9 renewals due → "insufficient data"; 10 → tiered.
    min_renewals_due: int = 10
    #: Tried in order; an industry meeting none is tier 4. 0.899 renewed → not tier 1.
    cuts: tuple[TierCut, ...] = (
        TierCut(tier=1, min_renewal_rate=0.90, min_expansion_rate=0.10),
        TierCut(tier=2, min_renewal_rate=0.85, min_expansion_rate=0.0),
        TierCut(tier=3, min_renewal_rate=0.75),
    )
    #: The tier whose industries are targets.
    target_tier: int = 1

    def problems(self) -> list[tuple[str, str]]:
        """Why this configuration cannot be used, as (field, message) pairs; empty if it can."""
        out: list[tuple[str, str]] = []
        if not 1 <= self.lookback_months <= 120:
            out.append(("lookback_months", "must be between 1 and 120"))
        if self.min_renewals_due < 1:
            out.append(("min_renewals_due", "must be at least 1"))
        if [c.tier for c in self.cuts] != [1, 2, 3]:
            out.append(("cuts", "must give tiers 1, 2 and 3 in that order (tier 4 is the rest)"))
        for i, cut in enumerate(self.cuts):
            if not 0.0 <= cut.min_renewal_rate <= 1.0:
                out.append((f"cuts[{i}].min_renewal_rate", "must be between 0 and 1"))
            if cut.min_expansion_rate is not None and cut.min_expansion_rate < -1.0:
                out.append((f"cuts[{i}].min_expansion_rate", "must be at least -1"))
        if not 1 <= self.target_tier <= 4:
            out.append(("target_tier", "must be between 1 and 4"))
        return out


@dataclass(frozen=True)
class IndustryRecord:
    """An industry's renewals in the window: how many renewed and churned, and the renewed ARR
    at the start of the ended terms (``arr_base``) and after renewal (``arr_renewed``)."""

    industry: str
    renewed: int = 0
    churned: int = 0
    arr_base: float = 0.0
    arr_renewed: float = 0.0


@dataclass(frozen=True)
class Override:
    tier: int
    reason: str
    set_by: str
    set_at: dt.datetime


@dataclass(frozen=True)
class IndustryTier:
    """An industry's tier with the numbers behind it (the breakdown shown in pages and the API)."""

    industry: str
    tier: int | None
    is_target: bool
    status: str
    computed_tier: int | None
    renewal_rate: float | None
    expansion_rate: float | None
    renewals_due: int
    renewed: int
    churned: int
    arr_base: float
    arr_renewed: float
    explanation: str
    override: Override | None = None
    window: tuple[dt.date, dt.date] | None = field(default=None)


def window_start(as_of: dt.date, months: int) -> dt.date:
    """The first day of the lookback: ``months`` calendar months before ``as_of`` (clamped to the
    month's last day: 2026-03-31 minus one month is 2026-02-28)."""
    index = as_of.year * 12 + as_of.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in (as_of.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def computed_tier(record: IndustryRecord, config: TierConfig) -> tuple[int | None, str]:
    """The tier the numbers give (None when the sample is too small) and why, in words."""
    due = record.renewed + record.churned
    if due < config.min_renewals_due:
        return None, f"insufficient data: {due} renewals due, {config.min_renewals_due} needed"
    renewal = record.renewed / due
    expansion = expansion_rate(record)
    for cut in config.cuts:
        if renewal < cut.min_renewal_rate:
            continue
        if cut.min_expansion_rate is not None and (
            expansion is None or expansion < cut.min_expansion_rate
        ):
            continue
        reason = f"renewal {_pct(renewal)} ≥ {_pct(cut.min_renewal_rate)}"
        if cut.min_expansion_rate is not None and expansion is not None:
            reason += f" and expansion {_pct(expansion)} ≥ {_pct(cut.min_expansion_rate)}"
        return cut.tier, f"{reason} → tier {cut.tier}"
    return 4, f"renewal {_pct(renewal)} meets no cut → tier 4"


def expansion_rate(record: IndustryRecord) -> float | None:
    """ARR growth among the renewed; None when no renewed ARR is known."""
    if record.arr_base <= 0:
        return None
    return record.arr_renewed / record.arr_base - 1.0


def tier_industries(
    records: Iterable[IndustryRecord],
    *,
    overrides: Mapping[str, Override] | None = None,
    config: TierConfig | None = None,
    window: tuple[dt.date, dt.date] | None = None,
) -> dict[str, IndustryTier]:
    """Every industry's tier: computed from its record, unless an override sets it by hand."""
    config = config or TierConfig()
    overrides = overrides or {}
    by_name = {r.industry: r for r in records}
    for name in overrides:
        by_name.setdefault(name, IndustryRecord(industry=name))
    out: dict[str, IndustryTier] = {}
    for name in sorted(by_name):
        record = by_name[name]
        due = record.renewed + record.churned
        computed, explanation = computed_tier(record, config)
        override = overrides.get(name)
        tier = override.tier if override else computed
        if override:
            status = "override"
            explanation = f"set by hand to tier {override.tier} ({explanation})"
        else:
            status = "tiered" if computed is not None else "insufficient_data"
        out[name] = IndustryTier(
            industry=name, tier=tier, is_target=tier == config.target_tier, status=status,
            computed_tier=computed, renewal_rate=record.renewed / due if due else None,
            expansion_rate=expansion_rate(record), renewals_due=due, renewed=record.renewed,
            churned=record.churned, arr_base=record.arr_base, arr_renewed=record.arr_renewed,
            explanation=explanation, override=override, window=window,
        )
    return out
