"""Which interventions move the health score, and breadth vs depth of touches (domain.md §1, §4).

The formula, in words:

* Scores are read on **anchor days** (stored score days at least ``anchor_step_days`` apart) and
  on each anchor's **follow-up day**: the stored score day nearest to anchor + window (30 or 60
  days), no more than ``followup_tolerance_days`` away. An account's **change** at an anchor is
  its score on the follow-up day minus its score on the anchor day.
* An account is **treated** at an anchor when it got the intervention on a day from the anchor
  up to (not including) the next anchor. It is a **control** when it got no such intervention
  from ``window`` days before the anchor to the follow-up day.
* **Matching**: each treated observation is compared with the controls of its *stratum* — the
  same anchor, the same band on the anchor day and the same segment. Treated observations whose
  stratum has fewer than ``min_stratum_controls`` controls are left out and counted as unmatched.
* **Effect** = mean change of the matched treated − the controls' mean reweighted to the
  treated's strata, Σ_s w_s · mean(C_s) with w_s = n_T,s ÷ n_T. Example: treated +6 and +10 in
  stratum A (controls +1, +3), treated +2 in B (controls 0, +2, +4): treated mean 6, control
  mean ⅔·2 + ⅓·2 = 2, effect +4.
* **Standard error** = √(var_T ÷ n_T + Σ_s w_s² · var(C_s) ÷ n_C,s) with sample variances;
  Welch–Satterthwaite degrees of freedom; the interval is effect ± t·SE, t being Student's
  quantile (from the Cornish–Fisher expansion of the normal one, exact to 0.001 from 5 degrees of
  freedom on; the normal 1.96 as the degrees of freedom grow).
* **Reading**: fewer than ``min_treated`` treated or ``min_controls`` controls → not enough
  data; an interval wholly above 0 → the intervention helped, wholly below → it went with a
  fall, otherwise no clear difference.

Breadth vs depth: accounts grouped by how many times they were touched in a period (0, 1, 2,
3–4, 5+), with each group's mean score change, its total (its share of the portfolio's change)
and the change per touch — touching many accounts a few times against few accounts many times.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Reading = Literal["insufficient", "positive", "negative", "unclear"]


@dataclass(frozen=True)
class EffectConfig:
    #: Anchors at least a week apart: daily scores give one anchor a week, weekly ones each week.
    anchor_step_days: int = 7
    #: A follow-up score may be this many days off anchor + window (weekly scores: at most 3).
    followup_tolerance_days: int = 3
    #: Fewer matched treated than this → "not enough data" (4 treated → insufficient, 5 → read).
    min_treated: int = 5
    #: Fewer controls in all than this → "not enough data".
    min_controls: int = 5
    #: A stratum needs this many controls to estimate its mean and variance (1 → unmatched).
    min_stratum_controls: int = 2
    #: Two-sided confidence level of the interval.
    confidence: float = 0.95


@dataclass(frozen=True)
class Observation:
    """An account's score change from an anchor day to its follow-up day, and its stratum."""

    account_id: int
    anchor: dt.date
    band: str | None
    segment: str | None
    change: float


@dataclass(frozen=True)
class Effect:
    """An intervention's effect on the score change over one window, with its breakdown."""

    treated: int  # matched treated observations
    treated_accounts: int
    unmatched: int  # treated observations whose stratum had too few controls
    controls: int  # control observations in the strata used
    strata: int
    treated_mean: float | None
    control_mean: float | None  # reweighted to the treated's strata
    effect: float | None  # treated_mean − control_mean
    std_error: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    reading: Reading


# -- statistics ---------------------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile for 0.5 ≤ p < 1: df 10, p 0.975 → 2.228 (the table's 2.228).

    From 5 degrees of freedom on, the Cornish–Fisher expansion of the normal quantile
    (Abramowitz & Stegun 26.7.5, within 0.001 of the table there); below, the distribution
    function integrated by Simpson's rule and inverted by bisection."""
    z = statistics.NormalDist().inv_cdf(p)
    if math.isinf(df):
        return z
    if df >= 5:
        z3, z5, z7, z9 = z**3, z**5, z**7, z**9
        return (
            z
            + (z3 + z) / (4 * df)
            + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df**4)
        )
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))

    def cdf(x: float, steps: int = 400) -> float:
        h = x / steps
        inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
        return 0.5 + h / 3 * (density(0.0) + inner + density(x))

    low, high = 0.0, 1.0
    while cdf(high) < p:
        low, high = high, high * 2
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < p else (low, middle)
    return (low + high) / 2


def matched_effect(
    treated: Sequence[Observation],
    controls: Sequence[Observation],
    config: EffectConfig = EffectConfig(),
) -> Effect:
    """The stratified difference of mean score changes, treated vs matched controls."""
    control_strata: dict[tuple[object, ...], list[float]] = defaultdict(list)
    for c in controls:
        control_strata[_stratum(c)].append(c.change)
    treated_strata: dict[tuple[object, ...], list[float]] = defaultdict(list)
    used: list[Observation] = []
    unmatched = 0
    for t in treated:
        key = _stratum(t)
        if len(control_strata.get(key, ())) < config.min_stratum_controls:
            unmatched += 1
            continue
        treated_strata[key].append(t.change)
        used.append(t)
    n_t = len(used)
    n_c = sum(len(control_strata[k]) for k in treated_strata)
    accounts = len({t.account_id for t in used})
    if n_t == 0:
        return Effect(0, 0, unmatched, n_c, 0, None, None, None, None, None, None, None, "insufficient")
    changes = [t.change for t in used]
    treated_mean = statistics.fmean(changes)
    control_mean = 0.0
    control_var = 0.0  # Σ w² var_C / n_C
    control_df_terms = 0.0
    for key, values in treated_strata.items():
        w = len(values) / n_t
        strata_controls = control_strata[key]
        control_mean += w * statistics.fmean(strata_controls)
        part = w * w * statistics.variance(strata_controls) / len(strata_controls)
        control_var += part
        control_df_terms += part * part / (len(strata_controls) - 1)
    effect = treated_mean - control_mean
    se = df = low = high = None
    if n_t >= 2:
        treated_var = statistics.variance(changes) / n_t
        variance = treated_var + control_var
        se = math.sqrt(variance)
        denominator = treated_var * treated_var / (n_t - 1) + control_df_terms
        df = variance * variance / denominator if denominator > 0 else math.inf
        margin = t_quantile(0.5 + config.confidence / 2, max(df, 1.0)) * se
        low, high = effect - margin, effect + margin
    reading: Reading
    if n_t < config.min_treated or n_c < config.min_controls or low is None or high is None:
        reading = "insufficient"
    elif low > 0:
        reading = "positive"
    elif high < 0:
        reading = "negative"
    else:
        reading = "unclear"
    return Effect(
        n_t,
        accounts,
        unmatched,
        n_c,
        len(treated_strata),
        treated_mean,
        control_mean,
        effect,
        se,
        df if df is None or math.isfinite(df) else None,
        low,
        high,
        reading,
    )


def _stratum(o: Observation) -> tuple[object, ...]:
    return (o.anchor, o.band, o.segment)


# -- anchors, follow-ups, treated and controls ----------------------------------------------------


def anchors(days: Iterable[dt.date], config: EffectConfig = EffectConfig()) -> list[dt.date]:
    """Score days at least ``anchor_step_days`` apart, from the first (daily Nov 1–15 → Nov 1,
    8, 15; weekly days are kept as they are)."""
    out: list[dt.date] = []
    for day in sorted(set(days)):
        if not out or (day - out[-1]).days >= config.anchor_step_days:
            out.append(day)
    return out


def followup(
    anchor: dt.date, window: int, days: Sequence[dt.date], config: EffectConfig = EffectConfig()
) -> dt.date | None:
    """The score day nearest to anchor + window within the tolerance (the earlier on a tie);
    weekly days from Nov 1 and a 30-day window → Nov 29 (1 day off Nov 30)."""
    target = anchor + dt.timedelta(days=window)
    best: dt.date | None = None
    for day in days:
        off = abs((day - target).days)
        if off <= config.followup_tolerance_days and (best is None or off < abs((best - target).days)):
            best = day
    return best


def split(
    observations: Sequence[Observation],
    events: Iterable[tuple[int, dt.date]],
    *,
    window: int,
    anchor_days: Sequence[dt.date],
    followups: Mapping[dt.date, dt.date],
    config: EffectConfig = EffectConfig(),
) -> tuple[list[Observation], list[Observation]]:
    """(treated, controls) for one intervention type, ``events`` being (account, day) of it.

    An anchor's period runs to the next anchor (the last one's for ``anchor_step_days``):
    anchors Nov 1 and 8, a training on Nov 7 → treated at Nov 1; on Nov 8 → treated at Nov 8
    and, with a 30-day window, no longer a control at Nov 1 (its follow-up is Nov 29)."""
    ordered = sorted(anchor_days)
    by_account: dict[int, list[dt.date]] = defaultdict(list)
    for account_id, day in events:
        by_account[account_id].append(day)
    for days in by_account.values():
        days.sort()
    treated: list[Observation] = []
    controls: list[Observation] = []
    for o in observations:
        position = bisect.bisect_right(ordered, o.anchor)
        period_end = (
            ordered[position]
            if position < len(ordered)
            else o.anchor + dt.timedelta(days=config.anchor_step_days)
        )
        days = by_account.get(o.account_id, [])
        if _first_from(days, o.anchor, before=period_end):
            treated.append(o)
        elif not _first_from(
            days, o.anchor - dt.timedelta(days=window), before=followups[o.anchor] + dt.timedelta(days=1)
        ):
            controls.append(o)
    return treated, controls


def _first_from(days: list[dt.date], start: dt.date, *, before: dt.date) -> bool:
    """Whether any of the sorted ``days`` falls in [start, before)."""
    i = bisect.bisect_left(days, start)
    return i < len(days) and days[i] < before


# -- breadth vs depth ---------------------------------------------------------------------------

#: Touch-count buckets: (label, lowest, highest or None for no upper bound).
TOUCH_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3–4", 3, 4),
    ("5+", 5, None),
)


@dataclass(frozen=True)
class TouchBucket:
    label: str
    accounts: int
    scored: int  # accounts with a score at both ends of the period
    touches: int
    mean_change: float | None
    total_change: float  # the bucket's share of the portfolio's summed change
    change_per_touch: float | None  # total change ÷ touches (None for the 0 bucket)


def breadth_depth(
    accounts: Iterable[tuple[int, float | None]],
    buckets: Sequence[tuple[str, int, int | None]] = TOUCH_BUCKETS,
) -> list[TouchBucket]:
    """Each bucket's accounts, touches and score change, from (touches, change or None) per
    account: (1, +4), (1, +2), (4, +3) → "1": 2 accounts, mean +3, total +6, +3 per touch;
    "3–4": 1 account, total +3, +0.75 per touch."""
    rows = list(accounts)
    out = []
    for label, low, high in buckets:
        inside = [(n, c) for n, c in rows if n >= low and (high is None or n <= high)]
        changes = [c for _, c in inside if c is not None]
        touches = sum(n for n, c in inside if c is not None)
        total = sum(changes)
        out.append(
            TouchBucket(
                label,
                len(inside),
                len(changes),
                sum(n for n, _ in inside),
                statistics.fmean(changes) if changes else None,
                total,
                total / touches if touches else None,
            )
        )
    return out
