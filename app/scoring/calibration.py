"""Calibrating a health model from the book's own history, and judging a model honestly.

The input is a list of *samples*: one account at one reference date, with the raw values of the
model's measures then (``measure_order``) and the number of days from that date to the account's
churn, if it churned. An account *churned within the horizon* when that number is at most
``horizon_days``.

**Evaluation** (``evaluate``): ROC AUC of the score with a seeded bootstrap 95% interval; churn
rate, share and lift per band and whether the bands are in order (churn rate strictly rising
good → normal → bad over the bands that hold anyone); with a probability map (``fit_platt``: a
logistic curve from score to P(churn within the horizon)), the Brier score, the Brier score of
always predicting the base rate, and a calibration table; per measure, its AUC in its declared
direction with an interval and a verdict: ``no_signal`` when the interval holds 0.5 or the AUC is
within 0.03 of it, ``wrong_way`` when the interval lies below 0.5, else ``signal``.

**Calibration** (``calibrate``), in four steps:

1. *Grade thresholds from churn rates.* For each measure with a signal, cuts are searched over
   readable quantiles of its training values (two significant digits): the pair (``thresholds``)
   or the four points (``breakpoints``) whose grades separate churners best (AUC of the grade),
   with the churn rate strictly falling from each grade to the next better one and every grade
   holding at least ``min_bin_share`` of the samples; ``linear`` runs from the 10th to the 90th
   percentile. A measure without a signal, or pointing the wrong way, keeps its direction and
   grading, is flagged with its evidence and gets the minimal weight.
2. *Weights.* An L2-regularised logistic regression of churn on the measures' graded fractions
   (missing under ``bad`` counts 0, under ``exclude`` the training mean). Each protective
   coefficient becomes the measure's weight, in percent of the score (rounded, at least 1); a
   group weighs the sum of its measures, so a measure's share of the score is its weight.
3. *Band cut-offs* on the proposed model's training scores: ``band_normal`` puts as many samples
   in "bad" as it can without exceeding ``bad_share_max`` (and with "bad" churning more than the
   rest, when it can); ``band_good`` is the cut that separates best (AUC of the band) with "good"
   churning strictly less than "normal". With ``keep_band_normal`` the line stays where it is
   (the Adoption score's 1.5) and every fitted grading's cuts move by one shared quantile shift,
   chosen so that between 5% and ``bad_share_max`` of samples fall below the line and churn at
   least twice as often as the rest, when the data allows.
4. *Never worse than the start.* The training accounts are split into three folds; each fold
   is scored by the current model and by three variants fitted on the other two folds —
   ``calibrated`` (thresholds and weights), ``weights_only``, ``thresholds_only`` — at every
   training date. A variant replaces the current model only when its AUC on accounts it was not
   fitted on beats the current model's clear of the noise (the 5th percentile of the gain over
   bootstrap resamples of accounts is above 0); the best such variant wins, else the current one
   is ``kept`` (its gradings and weights, with cut-offs chosen as in step 3). The winner is then
   refitted on all training samples. (Folds by account rather than by date: a split by date
   either fits on outcomes that fall in the checked period, the same churners on both sides,
   or, leaving a horizon's gap, on a handful of dates.)

Everything is deterministic for the same input (the bootstrap is seeded, sorts are stable).
Figures are plain numbers and codes, never sentences.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.scoring.health import BANDS, Grading, GroupDef, MeasureDef, ModelDef, measure_order, score_book

Verdict = Literal["signal", "no_signal", "wrong_way"]
Variant = Literal["calibrated", "weights_only", "thresholds_only", "kept"]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

#: |AUC − 0.5| below this is no signal, whatever the interval says.
NO_SIGNAL_MARGIN = 0.03
#: The smallest weight a measure can have (weights are percent of the score).
MIN_WEIGHT = 1
#: The choice between the current model and the variants checks each on accounts it was not
#: fitted on, in this many folds by account.
FOLDS = 3
#: "Good" and "normal" each hold at least this share of samples when the data allows.
BAND_SHARE_MIN = 0.2
#: A variant must beat the current model's AUC by this much on the held-out accounts …
MIN_GAIN = 0.01
#: … and the 5th percentile of its gain over bootstrap resamples of accounts must stay above this.
GAIN_LOW_FLOOR = 0.0
#: Quantile levels searched for cuts.
THRESHOLD_LEVELS = np.round(np.linspace(0.02, 0.98, 49), 4)
BREAKPOINT_LEVELS = np.round(np.linspace(0.04, 0.96, 24), 4)
LINEAR_LEVELS = (0.1, 0.9)
#: The shared quantile shifts tried with ``keep_band_normal``.
SHIFTS = tuple(round(s, 2) for s in np.linspace(-0.3, 0.3, 13))
#: Share of samples below a kept line: at least this much (and at most ``bad_share_max``).
LINE_SHARE_MIN = 0.05
#: Samples below a kept line should churn at least this many times as often as the rest.
LINE_LIFT_MIN = 2.0
#: The bootstrap resamples at most this many distinct values (adjacent ones are pooled beyond).
BOOTSTRAP_LEVELS = 1000
#: Key features: a feature counts as used by most accounts when this share uses it.
KEY_FEATURE_USAGE_MIN = 0.9
#: A date for scoring samples: values given are never stale.
_AS_OF = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class Sample:
    """One account at one reference date."""

    account_id: int
    ref: dt.date
    values: tuple[float | None, ...]  # raw measure values in measure_order(model); None = no data or stale
    churn_in_days: int | None  # days from ref to the account's churn date; None = has not churned
    segment: str | None = None


def churned(sample: Sample, horizon_days: int) -> bool:
    """Whether the account churned within ``horizon_days`` of the sample's reference date."""
    return sample.churn_in_days is not None and sample.churn_in_days <= horizon_days


@dataclass(frozen=True)
class Settings:
    bad_share_max: float = 0.25  # at most this share of samples in "bad"
    min_bin_share: float = 0.05  # each grade bin of a measure holds at least this share
    regularisation: float = 1.0  # sklearn's C for the L2 logistic regression
    #: The model's band_normal is a fixed line (Adoption's 1.5): calibrate the gradings around it
    #: instead of moving it.
    keep_band_normal: bool = False
    resamples: int = 400  # bootstrap resamples for the AUC interval
    seed: int = 0


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platt:
    """P(churn within the horizon) = 1 / (1 + exp(−(intercept + slope × score)))."""

    intercept: float
    slope: float

    def probability(self, score: float) -> float:
        return float(self.probabilities(np.array([score], dtype=float))[0])

    def probabilities(self, scores: FloatArray) -> FloatArray:
        z = self.intercept + self.slope * np.asarray(scores, dtype=float)
        out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic curve, without overflow
        return out


@dataclass(frozen=True)
class BandRow:
    band: str
    accounts: int
    share: float | None
    churned: int
    churn_rate: float | None
    lift: float | None


@dataclass(frozen=True)
class CalibrationBin:
    """Samples whose predicted probability lies in [low, high]."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class MeasureEvidence:
    key: str
    higher_is_better: bool
    observations: int  # samples with a value
    auc: float | None  # in the declared direction: P(a stayer's value is better than a churner's)
    auc_low: float | None
    auc_high: float | None
    verdict: Verdict


@dataclass(frozen=True)
class Evaluation:
    horizon_days: int
    samples: int
    observations: int  # samples with a score
    churned: int
    base_rate: float | None
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    brier: float | None  # None without a probability map
    brier_base_rate: float | None
    bands: tuple[BandRow, ...]  # good, normal, bad
    #: Churn rate strictly rising good → normal → bad over the bands that hold anyone (at least
    #: two of them).
    bands_in_order: bool
    calibration: tuple[CalibrationBin, ...]  # empty without a probability map
    measures: tuple[MeasureEvidence, ...]  # in measure_order


@dataclass(frozen=True)
class MeasureChange:
    key: str
    group: str
    verdict: Verdict
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    observations: int
    grading_before: Grading
    grading_after: Grading
    weight_before: float
    weight_after: float


@dataclass(frozen=True)
class GroupChange:
    key: str
    weight_before: float
    weight_after: float


@dataclass(frozen=True)
class VariantCheck:
    """A candidate's AUC on the newest training dates, fitted on the older ones, and the 5th
    percentile of its paired bootstrap gain over the current model (None for the current one)."""

    variant: Variant
    auc: float | None
    gain_low: float | None = None


@dataclass(frozen=True)
class Proposal:
    model: ModelDef
    variant: Variant
    inner_auc_before: float | None
    inner_auc_after: float | None
    measures: tuple[MeasureChange, ...]
    groups: tuple[GroupChange, ...]
    band_good_before: float
    band_good_after: float
    band_normal_before: float
    band_normal_after: float
    variants: tuple[VariantCheck, ...]
    #: The inner split: reference dates and samples that fitted and that checked.
    fit_dates: int
    check_dates: int
    fit_samples: int
    check_samples: int
    #: With keep_band_normal: the quantile shift applied to the fitted cuts, and the share of
    #: training samples below the line and their churn rate over the rest's (None otherwise).
    shift: float | None = None
    below_line_share: float | None = None
    below_line_lift: float | None = None


@dataclass(frozen=True)
class SegmentThresholds:
    """A key feature's thresholds within one segment: the same quantiles of its own use."""

    segment: str
    samples: int
    good: float
    normal: float


@dataclass(frozen=True)
class KeyFeatureChoice:
    key: str
    usage_share: float  # share of samples with any use
    median_use: float | None  # among the samples that use it
    auc: float | None  # more use → stays: P(a stayer uses it more than a churner)
    auc_low: float | None
    auc_high: float | None
    verdict: Verdict
    good: float  # monthly use per seat ≥ good → good
    normal: float  # ≥ normal → normal, else (no use included) bad
    bad_share: float
    churn_rates: tuple[float | None, float | None, float | None]  # good, normal, bad
    segments: tuple[SegmentThresholds, ...] = ()


# -- scores and AUC -----------------------------------------------------------------------------


def model_scores(model: ModelDef, samples: Sequence[Sample]) -> list[tuple[float | None, str | None]]:
    """Score and band of every sample, exactly as the scorer gives them (``score_book``); a value
    None counts as missing."""
    measures = measure_order(model)
    for sample in samples:
        if len(sample.values) != len(measures):
            raise ValueError(
                f"sample of account {sample.account_id} has {len(sample.values)} values; "
                f"the model has {len(measures)} measures"
            )
    if not samples:
        return []
    columns = [list(column) for column in zip(*(s.values for s in samples), strict=True)]
    return list(score_book(model, columns, [_AS_OF] * len(measures), as_of=_AS_OF))


def _outcomes(samples: Sequence[Sample], horizon_days: int) -> BoolArray:
    return np.array([churned(s, horizon_days) for s in samples], dtype=bool)


def _matrix(samples: Sequence[Sample], width: int) -> FloatArray:
    nan = math.nan
    if not samples:
        return np.empty((0, width))
    return np.array([[nan if v is None else v for v in s.values] for s in samples], dtype=float)


def _counts(values: FloatArray, churn: BoolArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Distinct values ascending, and per value how many stayed and how many churned."""
    levels, inverse = np.unique(values, return_inverse=True)
    stay = np.bincount(inverse[~churn], minlength=len(levels)).astype(np.int64)
    gone = np.bincount(inverse[churn], minlength=len(levels)).astype(np.int64)
    return levels, stay, gone


def _auc_counts(stay: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """AUC from counts per level (levels ascending, last axis): P(stayer above churner), ties
    half. NaN without both outcomes."""
    stayers = stay.sum(axis=-1)
    churners = gone.sum(axis=-1)
    below = np.cumsum(gone, axis=-1) - gone
    twice_u = (stay * (2 * below + gone)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(stayers * churners > 0, twice_u / (2.0 * stayers * churners), np.nan)


def _auc(values: FloatArray, churn: BoolArray) -> float | None:
    """``roc_auc`` of these values (rounded the same way); None without both outcomes."""
    if len(values) == 0:
        return None
    _, stay, gone = _counts(values, churn)
    stayers, churners = int(stay.sum()), int(gone.sum())
    if not stayers or not churners:
        return None
    below = np.cumsum(gone) - gone
    twice_u = int((stay * (2 * below + gone)).sum())
    return round((twice_u / 2) / (stayers * churners), 4)


def _auc_interval(
    values: FloatArray, churn: BoolArray, settings: Settings
) -> tuple[float | None, float | None, float | None]:
    """(AUC, 2.5th and 97.5th percentile of the bootstrap AUCs). A resample of n samples with
    replacement draws the (value, outcome) cells multinomially, so it is drawn that way."""
    auc = _auc(values, churn)
    if auc is None or settings.resamples < 1:
        return auc, None, None
    _, stay, gone = _counts(values, churn)
    total = stay + gone
    if len(total) > BOOTSTRAP_LEVELS:  # pool adjacent values, then correct for the pooling
        group = (np.cumsum(total) - total) * BOOTSTRAP_LEVELS // int(total.sum())
        stay = np.bincount(group, weights=stay).astype(np.int64)
        gone = np.bincount(group, weights=gone).astype(np.int64)
    pooled = float(_auc_counts(stay, gone))
    n = int(stay.sum() + gone.sum())
    cells = np.concatenate([stay, gone]) / n
    rng = np.random.default_rng(settings.seed)
    draws = rng.multinomial(n, cells, size=settings.resamples)
    aucs = _auc_counts(draws[:, : len(stay)], draws[:, len(stay) :])
    aucs = aucs[np.isfinite(aucs)] + (auc - pooled)
    if len(aucs) == 0:
        return auc, None, None
    low, high = np.percentile(aucs, [2.5, 97.5])
    return auc, round(float(min(low, auc)), 4), round(float(max(high, auc)), 4)


def verdict(auc: float | None, low: float | None, high: float | None) -> Verdict:
    """no_signal: no AUC, the interval holds 0.5, or |AUC − 0.5| < 0.03; wrong_way: the interval
    lies below 0.5; else signal."""
    if auc is None or abs(auc - 0.5) < NO_SIGNAL_MARGIN:
        return "no_signal"
    if low is not None and high is not None:
        if low <= 0.5 <= high:
            return "no_signal"
        if high < 0.5:
            return "wrong_way"
        return "signal"
    return "signal" if auc > 0.5 else "wrong_way"


def _evidence(
    measures: Sequence[MeasureDef], matrix: FloatArray, churn: BoolArray, settings: Settings
) -> list[MeasureEvidence]:
    out = []
    for i, measure in enumerate(measures):
        column = matrix[:, i]
        seen = ~np.isnan(column)
        oriented = column[seen] if measure.higher_is_better else -column[seen]
        auc, low, high = _auc_interval(oriented, churn[seen], settings)
        out.append(
            MeasureEvidence(
                measure.key,
                measure.higher_is_better,
                int(seen.sum()),
                auc,
                low,
                high,
                verdict(auc, low, high),
            )
        )
    return out


# -- evaluation ---------------------------------------------------------------------------------


def fit_platt(model: ModelDef, samples: Sequence[Sample], *, horizon_days: int) -> Platt:
    """The logistic curve from score to P(churn within the horizon), fitted on these samples
    (without both outcomes: the base rate, flat)."""
    scored = [
        (s, sc) for s, (sc, _) in zip(samples, model_scores(model, samples), strict=True) if sc is not None
    ]
    churn = np.array([churned(s, horizon_days) for s, _ in scored], dtype=bool)
    if len(churn) == 0:
        return Platt(0.0, 0.0)
    if churn.all() or not churn.any():
        rate = min(max(float(churn.mean()), 1e-6), 1 - 1e-6)
        return Platt(round(math.log(rate / (1 - rate)), 6), 0.0)
    x = np.array([sc for _, sc in scored], dtype=float) / model.scale_max
    fitted = LogisticRegression(C=100.0, max_iter=1000).fit(x.reshape(-1, 1), churn)
    return Platt(float(fitted.intercept_[0]), float(fitted.coef_[0][0]) / model.scale_max)


def evaluate(
    model: ModelDef,
    samples: Sequence[Sample],
    *,
    horizon_days: int,
    probability: Platt | None = None,
    settings: Settings = Settings(),
) -> Evaluation:
    """How well the model's scores on these samples foresaw churn within ``horizon_days``."""
    measures = measure_order(model)
    scored = model_scores(model, samples)
    churn_all = _outcomes(samples, horizon_days)
    has_score = np.array([sc is not None for sc, _ in scored], dtype=bool)
    scores = np.array([sc for sc, _ in scored if sc is not None], dtype=float)
    bands_of = [b for sc, b in scored if sc is not None]
    churn = churn_all[has_score]
    n, gone = len(scores), int(churn.sum())
    base_rate = gone / n if n else None
    auc, low, high = _auc_interval(scores, churn, settings)

    rows = []
    for name in BANDS:
        members = np.array([b == name for b in bands_of], dtype=bool)
        count, lost = int(members.sum()), int(churn[members].sum()) if n else 0
        rate = lost / count if count else None
        rows.append(
            BandRow(
                name,
                count,
                round(count / n, 4) if n else None,
                lost,
                round(rate, 4) if rate is not None else None,
                round(rate / base_rate, 3) if rate is not None and base_rate else None,
            )
        )
    rates = [r.churn_rate for r in rows if r.accounts]
    in_order = len(rates) >= 2 and all(
        a is not None and b is not None and a < b for a, b in itertools.pairwise(rates)
    )

    brier = brier_base = None
    table: tuple[CalibrationBin, ...] = ()
    if base_rate is not None:
        brier_base = round(base_rate * (1 - base_rate), 6)
    if probability is not None and n:
        predicted = probability.probabilities(scores)
        brier = round(float(np.mean((predicted - churn) ** 2)), 6)
        table = _calibration_table(predicted, churn)
    return Evaluation(
        horizon_days=horizon_days,
        samples=len(samples),
        observations=n,
        churned=gone,
        base_rate=round(base_rate, 6) if base_rate is not None else None,
        auc=auc,
        auc_low=low,
        auc_high=high,
        brier=brier,
        brier_base_rate=brier_base,
        bands=tuple(rows),
        bands_in_order=in_order,
        calibration=table,
        measures=tuple(_evidence(measures, _matrix(samples, len(measures)), churn_all, settings)),
    )


def _calibration_table(predicted: FloatArray, churn: BoolArray, bins: int = 5) -> tuple[CalibrationBin, ...]:
    """About ``bins`` bins of equal count by predicted probability (equal predictions stay
    together)."""
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)))
    which = np.searchsorted(edges[1:-1], predicted, side="right")
    out = []
    for b in range(len(edges)):
        members = which == b
        if not members.any():
            continue
        p = predicted[members]
        out.append(
            CalibrationBin(
                round(float(p.min()), 6),
                round(float(p.max()), 6),
                int(members.sum()),
                round(float(p.mean()), 6),
                round(float(churn[members].mean()), 6),
            )
        )
    return tuple(out)


def logistic_baseline(
    model: ModelDef, train: Sequence[Sample], test: Sequence[Sample], *, horizon_days: int
) -> float | None:
    """The yardstick: AUC on ``test`` of a plain logistic regression on the raw measure values
    (median imputation with missing indicators, standardised), fitted on ``train``."""
    width = len(measure_order(model))
    y_train, y_test = _outcomes(train, horizon_days), _outcomes(test, horizon_days)
    if y_train.all() or not y_train.any() or y_test.all() or not y_test.any():
        return None
    pipeline = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    pipeline.fit(_matrix(train, width), y_train)
    risk = pipeline.predict_proba(_matrix(test, width))[:, 1]
    return _auc(-risk, y_test)


# -- grading fits -------------------------------------------------------------------------------


def _readable(raw: float) -> float:
    """Two significant digits (0.4375 → 0.44, 137 → 140, 12 → 12)."""
    if raw == 0 or not math.isfinite(raw):
        return 0.0
    digits = 1 - math.floor(math.log10(abs(raw)))
    return round(raw, digits) + 0.0


def _candidates(oriented: FloatArray, sign: float, levels: np.ndarray) -> tuple[FloatArray, FloatArray]:
    """Readable cut candidates (oriented, ascending, distinct) at these quantile levels of the
    values, and the first level each came from."""
    quantiles = np.quantile(oriented, levels, method="inverted_cdf")
    cuts = np.array([sign * _readable(sign * float(q)) for q in quantiles], dtype=float)
    distinct, first = np.unique(cuts, return_index=True)
    return distinct, np.asarray(levels, dtype=float)[first]


@dataclass(frozen=True)
class _Fit:
    """A fitted grading and the quantile levels its cuts came from (oriented: higher is better)."""

    grading: Grading
    levels: tuple[float, ...]


def _grading(kind: str, higher_is_better: bool, cuts: Sequence[float]) -> Grading:
    """A grading from oriented cuts (ascending; ``thresholds``: normal, good; ``linear``: worst,
    best)."""
    sign = 1.0 if higher_is_better else -1.0
    raw = [sign * float(c) + 0.0 for c in cuts]
    if kind == "thresholds":
        return Grading("thresholds", good=raw[1], normal=raw[0])
    if kind == "breakpoints":
        return Grading("breakpoints", cuts=tuple(raw))
    low, high = (raw[0], raw[1]) if higher_is_better else (raw[1], raw[0])
    return Grading("linear", low=low, high=high)


def _bins_ok(n: np.ndarray, c: np.ndarray, min_count: float) -> np.ndarray:
    """Per row of bin counts (worst grade first): every non-empty bin holds at least
    ``min_count``, at least two bins hold anyone, and the churn rate falls strictly from each
    non-empty bin to the next."""
    ok = ((n == 0) | (n >= min_count)).all(axis=-1) & ((n > 0).sum(axis=-1) >= 2)
    previous = np.full(n.shape[0], np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = c / n
    for k in range(n.shape[1]):
        filled = n[:, k] > 0
        ok &= ~filled | (rate[:, k] < previous)
        previous = np.where(filled, rate[:, k], previous)
    return ok


def _fit_cuts(
    kind: str,
    oriented: FloatArray,
    churn: BoolArray,
    missing: int,
    missing_churned: int,
    higher_is_better: bool,
    settings: Settings,
    *,
    max_bad_share: float | None = None,
    lowest_cut_above: float | None = None,
) -> _Fit | None:
    """The best grading of this kind for these values (oriented, observed) and outcomes, or None
    when none has strictly ordered churn rates; ``missing`` samples (under the ``bad`` rule)
    count in the worst grade. Optionally the worst grade holds at most ``max_bad_share``, and
    the lowest cut lies above ``lowest_cut_above``."""
    if len(oriented) == 0:
        return None
    sign = 1.0 if higher_is_better else -1.0
    total = len(oriented) + missing
    min_count = settings.min_bin_share * total
    if kind == "linear":
        worst, best = (
            sign * _readable(sign * float(q))
            for q in np.quantile(oriented, LINEAR_LEVELS, method="inverted_cdf")
        )
        if worst >= best:
            return None
        return _Fit(_grading("linear", higher_is_better, (worst, best)), LINEAR_LEVELS)
    order = np.argsort(oriented, kind="stable")
    values, outcome = oriented[order], churn[order]
    churned_before = np.concatenate([[0], np.cumsum(outcome)])
    levels = THRESHOLD_LEVELS if kind == "thresholds" else BREAKPOINT_LEVELS
    cuts, cut_levels = _candidates(values, sign, levels)
    below = np.searchsorted(values, cuts, side="left")  # samples under each cut
    below_churned = churned_before[below]
    combos = np.array(
        list(itertools.combinations_with_replacement(range(len(cuts)), 2 if kind == "thresholds" else 4)),
        dtype=np.int64,
    )
    # Samples under each chosen cut, with the bottom (0) and top (all) as edges.
    edges_n = np.column_stack(
        [np.zeros(len(combos), np.int64), below[combos], np.full(len(combos), len(values))]
    )
    edges_c = np.column_stack(
        [np.zeros(len(combos), np.int64), below_churned[combos], np.full(len(combos), int(outcome.sum()))]
    )
    n, c = np.diff(edges_n, axis=1), np.diff(edges_c, axis=1)
    n[:, 0] += missing
    c[:, 0] += missing_churned
    ok = _bins_ok(n, c, min_count)
    if kind == "thresholds":  # an empty "normal" is only the two-grade form, normal = good
        ok &= (n[:, 1] > 0) | (combos[:, 0] == combos[:, 1])
    if max_bad_share is not None:
        ok &= n[:, 0] <= max_bad_share * total
    if lowest_cut_above is not None:
        ok &= cuts[combos[:, 0]] > lowest_cut_above
    if not ok.any():
        return None
    auc = _auc_counts(n - c, c)
    best = int(np.flatnonzero(ok)[np.argmax(np.where(ok, auc, -np.inf)[ok])])
    chosen = combos[best]
    return _Fit(
        _grading(kind, higher_is_better, [float(cuts[i]) for i in chosen]),
        tuple(float(cut_levels[i]) for i in chosen),
    )


def _shifted(kind: str, oriented: FloatArray, fit: _Fit, shift: float, higher_is_better: bool) -> Grading:
    """The grading whose cuts sit ``shift`` higher in the quantiles of the values (a harder
    grading for a positive shift)."""
    if shift == 0:
        return fit.grading
    sign = 1.0 if higher_is_better else -1.0
    levels = np.clip(np.array(fit.levels) + shift, 0.005, 0.995)
    cuts = [sign * _readable(sign * float(q)) for q in np.quantile(oriented, levels, method="inverted_cdf")]
    if kind == "linear" and cuts[0] >= cuts[1]:
        return fit.grading
    return _grading(kind, higher_is_better, cuts)


def _declared_fit(measure: MeasureDef, oriented: FloatArray) -> _Fit | None:
    """A declared grading with the quantile levels its cuts sit at in these values (oriented),
    so that it can be shifted like a fitted one; None without values."""
    if len(oriented) == 0:
        return None
    g = measure.grading
    sign = 1.0 if measure.higher_is_better else -1.0
    if g.kind == "thresholds":
        assert g.good is not None and g.normal is not None
        cuts = [sign * g.normal, sign * g.good]
    elif g.kind == "breakpoints":
        cuts = [sign * c for c in g.cuts]
    else:
        assert g.low is not None and g.high is not None
        cuts = [g.low, g.high] if measure.higher_is_better else [-g.high, -g.low]
    ordered = np.sort(oriented, kind="stable")
    levels = np.searchsorted(ordered, cuts, side="left") / len(ordered)
    return _Fit(g, tuple(float(x) for x in levels))


# -- fractions and weights ----------------------------------------------------------------------


def _fractions(measure: MeasureDef, grading: Grading, column: FloatArray) -> FloatArray:
    """``grade_value``'s fraction for every value of the column (NaN stays NaN)."""
    up = measure.higher_is_better
    seen = ~np.isnan(column)
    v = np.where(seen, column, 0.0)
    if grading.kind == "thresholds":
        assert grading.good is not None and grading.normal is not None
        good = v >= grading.good if up else v <= grading.good
        normal = v >= grading.normal if up else v <= grading.normal
        out = np.where(good, 1.0, np.where(normal, 0.5, 0.0))
    elif grading.kind == "breakpoints":
        points = sum(((v >= cut) if up else (v <= cut)).astype(float) for cut in grading.cuts)
        out = np.asarray(points, dtype=float) / 4
    else:
        assert grading.low is not None and grading.high is not None
        share = (v - grading.low) / (grading.high - grading.low)
        out = np.clip(share if up else 1.0 - share, 0.0, 1.0)
    return np.where(seen, out, np.nan)


def _fit_weights(
    measures: Sequence[MeasureDef],
    gradings: Sequence[Grading],
    matrix: FloatArray,
    churn: BoolArray,
    active: Sequence[bool],
    settings: Settings,
) -> list[float] | None:
    """Weights in percent of the score from the regression of churn on the active measures'
    fractions; None when it cannot be fitted (no active measure, one outcome only)."""
    if not any(active) or churn.all() or not churn.any():
        return None
    features = []
    for i, (measure, grading) in enumerate(zip(measures, gradings, strict=True)):
        if not active[i]:
            continue
        fraction = _fractions(measure, grading, matrix[:, i])
        seen = ~np.isnan(fraction)
        fill = 0.0 if measure.missing == "bad" or not seen.any() else float(fraction[seen].mean())
        features.append(np.where(seen, fraction, fill))
    fitted = LogisticRegression(C=settings.regularisation, max_iter=1000).fit(
        np.column_stack(features), churn
    )
    protective = np.maximum(-fitted.coef_[0], 0.0)
    total = float(protective.sum())
    weights: list[float] = []
    fitted_index = 0
    for is_active in active:
        if not is_active:
            weights.append(float(MIN_WEIGHT))
            continue
        share = 100 * float(protective[fitted_index]) / total if total > 0 else 0.0
        weights.append(float(max(MIN_WEIGHT, round(share))))
        fitted_index += 1
    return weights


def _assemble(model: ModelDef, gradings: Sequence[Grading], weights: Sequence[float] | None) -> ModelDef:
    """The model with these gradings, and these measure weights (group weight = the sum of its
    measures'), or its own weights when None."""
    groups = []
    i = 0
    for group in model.groups:
        measures = []
        for measure in group.measures:
            weight = measure.weight if weights is None else weights[i]
            measures.append(replace(measure, grading=gradings[i], weight=weight))
            i += 1
        group_weight = group.weight if weights is None else float(sum(m.weight for m in measures))
        groups.append(GroupDef(group.key, group.name, tuple(measures), group_weight, group.mode))
    return replace(model, groups=tuple(groups))


# -- band cut-offs ------------------------------------------------------------------------------


def _cut_grid(scale_max: float) -> FloatArray:
    """Readable band cut-offs: every hundredth of the scale, as a 1-2-5 step (1 on 0–100, 0.02
    on 0–4)."""
    step = next((x for x in (10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01) if x <= scale_max / 100), 0.01)
    return np.round(np.arange(0, scale_max + step / 2, step), 6)


def _below(scores: FloatArray, churn: BoolArray, cuts: FloatArray) -> tuple[IntArray, IntArray]:
    """Samples, and churners, scoring under each cut."""
    order = np.argsort(scores, kind="stable")
    churned_before = np.concatenate([[0], np.cumsum(churn[order])])
    n = np.searchsorted(scores[order], cuts, side="left")
    return n.astype(np.int64), churned_before[n].astype(np.int64)


def _scored(model: ModelDef, samples: Sequence[Sample], churn: BoolArray) -> tuple[FloatArray, BoolArray]:
    scores = model_scores(model, samples)
    keep = np.array([s is not None for s, _ in scores], dtype=bool)
    return np.array([s for s, _ in scores if s is not None], dtype=float), churn[keep]


def _band_normal(scores: FloatArray, churn: BoolArray, model: ModelDef, settings: Settings) -> float:
    """The cut that puts the most samples below it without passing ``bad_share_max``, preferring
    one whose "bad" churns more than the rest."""
    cuts = _cut_grid(model.scale_max)
    n_below, c_below = _below(scores, churn, cuts)
    total, lost = len(scores), int(churn.sum())
    fits = np.flatnonzero(n_below <= settings.bad_share_max * total)  # the cut 0 always fits
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_below = c_below / n_below
        rate_above = (lost - c_below) / (total - n_below)
    worse = fits[(n_below[fits] > 0) & (rate_below[fits] > rate_above[fits])]
    return float(cuts[int(worse[-1]) if len(worse) else int(fits[-1])])


def _band_good(
    scores: FloatArray, churn: BoolArray, band_normal: float, model: ModelDef, settings: Settings
) -> float:
    """The cut above ``band_normal`` that separates best (AUC of the three bands), with "good"
    churning strictly less than "normal" (and "normal" less than "bad", when "bad" holds anyone);
    ``band_normal`` itself (no "normal" band) when no cut does."""
    cuts = _cut_grid(model.scale_max)
    cuts = cuts[cuts > band_normal]
    if len(cuts) == 0:
        return band_normal
    n_below, c_below = _below(scores, churn, cuts)
    bad = scores < band_normal
    bad_n, bad_c = int(bad.sum()), int(churn[bad].sum())
    n = np.column_stack([np.full(len(cuts), bad_n), n_below - bad_n, len(scores) - n_below])
    c = np.column_stack([np.full(len(cuts), bad_c), c_below - bad_c, int(churn.sum()) - c_below])
    # "Good" and "normal" each hold a sizeable share first: a thin band's churn rate is noise,
    # and its order against the next band does not survive the newer dates.
    for min_share, band_share in (
        (settings.min_bin_share, BAND_SHARE_MIN),
        (settings.min_bin_share, 0.0),
        (0.0, 0.0),
    ):
        ok = (
            _bins_ok(n, c, min_share * len(scores))
            & (n[:, 1] > max(0.0, band_share * len(scores)))
            & (n[:, 2] > max(0.0, band_share * len(scores)))
        )
        if ok.any():
            auc = np.where(ok, _auc_counts(n - c, c), -np.inf)
            return float(cuts[int(np.argmax(auc))])
    return band_normal


# -- calibration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Built:
    model: ModelDef
    evidence: tuple[MeasureEvidence, ...]
    shift: float | None = None
    below_line_share: float | None = None
    below_line_lift: float | None = None


def _oriented(measure: MeasureDef, column: FloatArray) -> FloatArray:
    seen = column[~np.isnan(column)]
    return seen if measure.higher_is_better else -seen


def _build(
    model: ModelDef,
    samples: Sequence[Sample],
    matrix: FloatArray,
    churn: BoolArray,
    variant: Variant,
    settings: Settings,
    *,
    bands: bool,
    evidence: tuple[MeasureEvidence, ...] | None = None,
) -> _Built:
    """The variant of the model fitted on these samples (cut-offs chosen when ``bands``;
    ``evidence``: the measures' evidence on these samples, when already known)."""
    measures = measure_order(model)
    if evidence is None:
        evidence = tuple(_evidence(measures, matrix, churn, settings))
    active = [e.verdict == "signal" for e in evidence]
    fits: list[_Fit | None] = [None] * len(measures)
    if variant in ("calibrated", "thresholds_only"):
        for i, measure in enumerate(measures):
            if not active[i]:
                continue
            column = matrix[:, i]
            seen = ~np.isnan(column)
            missing = int((~seen).sum()) if measure.missing == "bad" else 0
            missing_churned = int(churn[~seen].sum()) if measure.missing == "bad" else 0
            fits[i] = _fit_cuts(
                measure.grading.kind,
                _oriented(measure, column),
                churn[seen],
                missing,
                missing_churned,
                measure.higher_is_better,
                settings,
            )
    gradings = [f.grading if f is not None else m.grading for f, m in zip(fits, measures, strict=True)]
    weights = None
    if variant in ("calibrated", "weights_only"):
        weights = _fit_weights(measures, gradings, matrix, churn, active, settings)
    proposed = _assemble(model, gradings, weights)
    if not bands or churn.all() or not churn.any():  # one outcome only: no cut-off to learn
        return _Built(proposed, evidence)
    if settings.keep_band_normal:
        return _around_line(model, proposed, samples, matrix, churn, fits, evidence, settings)
    scores, outcome = _scored(proposed, samples, churn)
    if len(scores) == 0:
        return _Built(proposed, evidence)
    band_normal = _band_normal(scores, outcome, proposed, settings)
    band_good = _band_good(scores, outcome, band_normal, proposed, settings)
    return _Built(replace(proposed, band_normal=band_normal, band_good=band_good), evidence)


def _around_line(
    model: ModelDef,
    proposed: ModelDef,
    samples: Sequence[Sample],
    matrix: FloatArray,
    churn: BoolArray,
    fits: Sequence[_Fit | None],
    evidence: tuple[MeasureEvidence, ...],
    settings: Settings,
) -> _Built:
    """Keep ``band_normal`` and move every grading's cuts (fitted or kept) by one shared
    quantile shift so that the samples below the line are between 5% and ``bad_share_max`` and
    churn at least twice as often as the rest: no shift when the gradings already do; else the
    largest such share; else the best lift in range; else the closest."""
    measures = measure_order(model)
    line = model.band_normal
    fits = [
        fit if fit is not None else _declared_fit(m, _oriented(m, matrix[:, i]))
        for i, (m, fit) in enumerate(zip(measures, fits, strict=True))
    ]
    tried = []
    for shift in SHIFTS if any(fits) else (0.0,):
        gradings = [
            _shifted(m.grading.kind, _oriented(m, matrix[:, i]), fit, shift, m.higher_is_better)
            if fit is not None
            else m.grading
            for i, (m, fit) in enumerate(zip(measures, fits, strict=True))
        ]
        candidate = _assemble(proposed, gradings, None)
        scores = _fast_scores(candidate, matrix)
        seen = ~np.isnan(scores)
        tried.append((shift, *_line_split(scores[seen], churn[seen], line), candidate))
    in_range = [t for t in tried if LINE_SHARE_MIN <= t[1] <= settings.bad_share_max]
    lifted = [t for t in in_range if t[2] >= LINE_LIFT_MIN]
    unmoved = [t for t in lifted if t[0] == 0.0]
    if unmoved:  # the gradings already meet the line's goal: no reason to move them
        chosen = unmoved[0]
    elif lifted:
        chosen = max(lifted, key=lambda t: (t[1], -abs(t[0])))
    elif in_range:
        chosen = max(in_range, key=lambda t: (t[2], -abs(t[0])))
    else:

        def distance(t: tuple[Any, ...]) -> float:
            return max(LINE_SHARE_MIN - t[1], t[1] - settings.bad_share_max)

        chosen = min(tried, key=lambda t: (distance(t), abs(t[0])))
    shift, candidate = chosen[0], chosen[3]
    scores, outcome = _scored(candidate, samples, churn)  # exactly as the scorer gives them
    share, lift = _line_split(scores, outcome, line)
    band_good = _band_good(scores, outcome, line, candidate, settings) if len(scores) else candidate.band_good
    return _Built(
        replace(candidate, band_normal=line, band_good=band_good),
        evidence,
        shift=shift,
        below_line_share=round(share, 4),
        below_line_lift=round(lift, 3) if math.isfinite(lift) else None,
    )


def _line_split(scores: FloatArray, churn: BoolArray, line: float) -> tuple[float, float]:
    """Share of scores below the line, and their churn rate over the rest's."""
    below = scores < line
    share = float(below.mean()) if len(scores) else 0.0
    rate_below = float(churn[below].mean()) if below.any() else 0.0
    rate_above = float(churn[~below].mean()) if (~below).any() else 0.0
    lift = rate_below / rate_above if rate_above > 0 else (math.inf if rate_below > 0 else 0.0)
    return share, lift


def _fast_scores(model: ModelDef, matrix: FloatArray) -> FloatArray:
    """The scores of ``score_book`` up to its rounding of each contribution (NaN: no score), by
    array arithmetic: for searches that score the same book many times."""
    measures = measure_order(model)
    weighted = np.zeros(len(matrix))
    weight_sum = np.zeros(len(matrix))
    i = 0
    for group in model.groups:
        fractions = []
        for measure in group.measures:
            fraction = _fractions(measure, measure.grading, matrix[:, i])
            if measure.missing == "bad":
                fraction = np.nan_to_num(fraction, nan=0.0)
            fractions.append(fraction)
            i += 1
        f = np.column_stack(fractions)
        w = np.array([m.weight for m in group.measures], dtype=float)
        seen = ~np.isnan(f)
        live = seen.any(axis=1)
        if group.mode == "worst":
            value = np.min(np.where(seen, f, np.inf), axis=1)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = (np.where(seen, f, 0.0) @ w) / (seen @ w)
        weighted += np.where(live, group.weight * np.where(live, value, 0.0), 0.0)
        weight_sum += np.where(live, group.weight, 0.0)
    assert i == len(measures)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(weight_sum > 0, weighted / weight_sum * model.scale_max, np.nan)
    out: FloatArray = np.round(scores, 2).astype(np.float64)
    return out


#: When two candidates check equally, the one that changes less wins.
_PREFERENCE: tuple[Variant, ...] = ("kept", "weights_only", "thresholds_only", "calibrated")


def _scores_or_nan(model: ModelDef, samples: Sequence[Sample]) -> FloatArray:
    return np.array([math.nan if sc is None else sc for sc, _ in model_scores(model, samples)], dtype=float)


def _gain_low(
    before: FloatArray, after: FloatArray, churn: BoolArray, groups: IntArray, settings: Settings
) -> float | None:
    """The 5th percentile of AUC(after) − AUC(before) over paired bootstrap resamples of the
    accounts (``groups``: each sample's account; an account's samples are drawn together, since
    one account's dates are not independent), None without both outcomes."""
    if churn.all() or not churn.any() or settings.resamples < 1:
        return None
    accounts, owner = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(settings.seed)
    levels = [np.unique(x, return_inverse=True) for x in (before, after)]
    gains = np.empty(settings.resamples)
    for r in range(settings.resamples):
        drawn = np.bincount(rng.integers(0, len(accounts), len(accounts)), minlength=len(accounts))[owner]
        stayed, lost = drawn * ~churn, drawn * churn
        aucs = [
            _auc_counts(
                np.bincount(inverse, weights=stayed, minlength=len(values)),
                np.bincount(inverse, weights=lost, minlength=len(values)),
            )
            for values, inverse in levels
        ]
        gains[r] = aucs[1] - aucs[0]
    gains = gains[np.isfinite(gains)]
    return round(float(np.percentile(gains, 5)), 4) if len(gains) else None


def _folds(samples: Sequence[Sample]) -> list[tuple[list[int], list[int]]]:
    """FOLDS splits of the samples by account: each fold's accounts check a model fitted on the
    other accounts, at every date. Splitting by time instead would either fit on outcomes that
    fall in the checked period (the same churners on both sides) or, leaving a horizon's gap,
    fit on a handful of dates; splitting by account keeps every date and no account on both
    sides. (The proposal's own validation is out of time: ``app.health.samples``.)"""
    accounts = sorted({s.account_id for s in samples})
    fold_of = {a: i % FOLDS for i, a in enumerate(accounts)}
    out = []
    for k in range(FOLDS):
        check = [i for i, s in enumerate(samples) if fold_of[s.account_id] == k]
        fit = [i for i, s in enumerate(samples) if fold_of[s.account_id] != k]
        if check and fit:
            out.append((fit, check))
    return out


def calibrate(
    model: ModelDef,
    train: Sequence[Sample],
    *,
    horizon_days: int,
    settings: Settings = Settings(),
) -> Proposal:
    """A proposed version of ``model`` fitted on ``train``, never worse than the model on
    accounts it was not fitted on (see the module's description)."""
    measures = measure_order(model)
    matrix = _matrix(train, len(measures))
    churn = _outcomes(train, horizon_days)
    groups = np.array([s.account_id for s in train], dtype=np.int64)
    folds = _folds(train)
    checks: list[VariantCheck] = []
    if folds:
        pooled: dict[Variant, FloatArray] = {}
        for variant in _PREFERENCE:
            scores = np.full(len(train), math.nan)
            for fit, check in folds:
                if variant == "kept":
                    candidate = model
                else:
                    fit_samples = [train[i] for i in fit]
                    candidate = _build(
                        model,
                        fit_samples,
                        matrix[fit],
                        churn[fit],
                        variant,
                        settings,
                        bands=settings.keep_band_normal,
                        evidence=tuple(_evidence(measures, matrix[fit], churn[fit], settings)),
                    ).model
                scores[check] = _scores_or_nan(candidate, [train[i] for i in check])
            pooled[variant] = scores
            kept_scores = pooled["kept"]
            both = ~np.isnan(scores) & ~np.isnan(kept_scores)
            auc = _auc(scores[both], churn[both])
            gain = (
                None
                if variant == "kept"
                else _gain_low(kept_scores[both], scores[both], churn[both], groups[both], settings)
            )
            checks.append(VariantCheck(variant, auc, gain))
    # The best variant that beats the current model by at least MIN_GAIN on accounts it was not
    # fitted on, unless that gain is likely noise; ties go to the smaller change.
    kept_auc = checks[0].auc if checks else None
    ranked = [
        (c.auc, -rank, c.variant)
        for rank, c in enumerate(checks)
        if c.auc is not None
        and kept_auc is not None
        and c.auc >= kept_auc + MIN_GAIN
        and c.gain_low is not None
        and c.gain_low > GAIN_LOW_FLOOR
    ]
    chosen: Variant = max(ranked)[2] if ranked else "kept"
    built = _build(model, train, matrix, churn, chosen, settings, bands=True)
    proposed = built.model
    after = measure_order(proposed)
    before_auc = checks[0].auc if checks else None
    after_auc = next((c.auc for c in checks if c.variant == chosen), None)
    group_of = {m.key: g.key for g in model.groups for m in g.measures}
    dates = len({s.ref for s in train})
    return Proposal(
        model=proposed,
        variant=chosen,
        inner_auc_before=before_auc,
        inner_auc_after=after_auc,
        measures=tuple(
            MeasureChange(
                key=m.key,
                group=group_of[m.key],
                verdict=e.verdict,
                auc=e.auc,
                auc_low=e.auc_low,
                auc_high=e.auc_high,
                observations=e.observations,
                grading_before=m.grading,
                grading_after=a.grading,
                weight_before=m.weight,
                weight_after=a.weight,
            )
            for m, a, e in zip(measures, after, built.evidence, strict=True)
        ),
        groups=tuple(
            GroupChange(g.key, g.weight, p.weight) for g, p in zip(model.groups, proposed.groups, strict=True)
        ),
        band_good_before=model.band_good,
        band_good_after=proposed.band_good,
        band_normal_before=model.band_normal,
        band_normal_after=proposed.band_normal,
        variants=tuple(checks),
        fit_dates=dates,
        check_dates=dates,
        fit_samples=sum(len(fit) for fit, _ in folds) // max(len(folds), 1),
        check_samples=sum(len(check) for _, check in folds),
        shift=built.shift,
        below_line_share=built.below_line_share,
        below_line_lift=built.below_line_lift,
    )


# -- key features -------------------------------------------------------------------------------


def propose_key_features(
    features: Mapping[str, Sequence[float | None]],
    samples: Sequence[Sample],
    *,
    horizon_days: int,
    settings: Settings = Settings(),
) -> list[KeyFeatureChoice]:
    """The 2–4 key features whose use best separates churners from stayers, among the features
    most samples use (``features[key][i]``: the feature's monthly use per seat for
    ``samples[i]``; None or 0: no use), each with good/normal thresholds.

    No use grades bad (the normal cut is above 0), so only features most accounts use can be
    key; each feature's "bad" holds at most half of ``bad_share_max``, so that [3bad] (three bad
    at once, or one bad three months running) stays rare. The thresholds are also given per
    segment, at the same quantiles of the segment's own use.
    """
    churn = _outcomes(samples, horizon_days)
    columns: dict[str, FloatArray] = {}
    for key, column in features.items():
        if len(column) != len(samples):
            raise ValueError(f"feature {key!r} has {len(column)} values for {len(samples)} samples")
        columns[key] = np.array([0.0 if v is None else v for v in column], dtype=float)
    if len(columns) < 2 or not samples:
        return []
    stats = {}
    for key, use in columns.items():
        auc, low, high = _auc_interval(use, churn, settings)
        stats[key] = (float((use > 0).mean()), auc, low, high, verdict(auc, low, high))
    by_use = sorted(columns, key=lambda k: (-stats[k][0], k))
    eligible = [k for k in by_use if stats[k][0] >= KEY_FEATURE_USAGE_MIN]
    if len(eligible) < 2:
        eligible = by_use[: max(2, len(eligible))]
    ranked = sorted(eligible, key=lambda k: (stats[k][4] != "signal", -(stats[k][1] or 0.0), k))
    signal = [k for k in ranked if stats[k][4] == "signal"]
    chosen = signal[:4] if len(signal) >= 2 else ranked[:2]
    cap = settings.bad_share_max / 2
    out = []
    for key in chosen:
        use = columns[key]
        fit = _fit_cuts(
            "thresholds", use, churn, 0, 0, True, settings, max_bad_share=cap, lowest_cut_above=0.0
        )
        if fit is not None:
            assert fit.grading.good is not None and fit.grading.normal is not None
            good, normal, levels = fit.grading.good, fit.grading.normal, fit.levels
        else:  # no ordered split: "bad" is no use and the lowest use, "good" from the median
            low = min(0.99, float((use <= 0).mean()) + settings.min_bin_share)
            levels = (low, max(low, 0.5))
            normal, good = (_readable(float(q)) for q in np.quantile(use, levels, method="inverted_cdf"))
            if normal <= 0:
                normal = _readable(float(use[use > 0].min())) if (use > 0).any() else 1.0
            good = max(good, normal)
        used = use[use > 0]
        bad = use < normal
        grades = (use >= good, (use >= normal) & (use < good), bad)
        rates = tuple(round(float(churn[g].mean()), 4) if g.any() else None for g in grades)
        segments = []
        for segment in sorted({s.segment for s in samples if s.segment is not None}):
            members = np.array([s.segment == segment for s in samples], dtype=bool)
            seg_normal, seg_good = (
                _readable(float(q)) for q in np.quantile(use[members], levels, method="inverted_cdf")
            )
            segments.append(
                SegmentThresholds(segment, int(members.sum()), max(seg_good, seg_normal), seg_normal)
            )
        share, auc, low, high, code = stats[key]
        out.append(
            KeyFeatureChoice(
                key=key,
                usage_share=round(share, 4),
                median_use=round(float(np.median(used)), 4) if len(used) else None,
                auc=auc,
                auc_low=low,
                auc_high=high,
                verdict=code,
                good=good,
                normal=normal,
                bad_share=round(float(bad.mean()), 4),
                churn_rates=rates,  # type: ignore[arg-type]
                segments=tuple(segments),
            )
        )
    return out
