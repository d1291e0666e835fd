"""Benchmark: calibrating the ABC model on a 10,000-account book, against scikit-learn directly.

    python -m bench.calibrate [--accounts 10000] [--dates 12] [--repeat 3] [--seed 7]

The book is generated in memory with a known churn process: each account has a health that
drifts month by month; the nine ABC-shaped measures follow it with noise (one is pure noise, one
rises as health falls), a monthly churn hazard falls with it, and about a third of churn comes
without warning. Every account active on one of ``--dates`` monthly reference dates is a sample
(10,000 accounts × 12 dates ≈ 115,000 samples); the oldest three quarters of the dates train, the
newest quarter tests, out of time, at a 90-day horizon.

Timed, best of ``--repeat`` (the median too; the machine is shared):

* ``calibrate`` of an ABC model with thresholds nobody fitted, on the training samples;
* ``evaluate`` of the proposal on the test samples (with ``fit_platt`` on the training ones);
* the baseline, in the same run: the same nine raw values fitted with scikit-learn directly
  (median imputation with missing indicators, standardised, ``LogisticRegression``) on the same
  training samples, with and without turning the samples into a matrix.

Peak memory of each, traced separately (``tracemalloc``: Python and numpy allocations), and the
process's peak RSS. Then the figures that say whether calibration is worth it: out-of-time AUC
before, after and of the baseline, bands, Brier score.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.scoring.calibration import (
    Sample,
    calibrate,
    churned,
    evaluate,
    fit_platt,
    logistic_baseline,
)
from app.scoring.health import Grading, GroupDef, MeasureDef, ModelDef

HORIZON = 90
FIRST_REF = dt.date(2025, 1, 1)


def _t(good: float, normal: float) -> Grading:
    return Grading("thresholds", good=good, normal=normal)


def _m(key: str, grading: Grading, **kw: Any) -> MeasureDef:
    return MeasureDef(key, key, grading, **kw)


#: The ABC shape (three groups of three measures) with thresholds nobody fitted to this book.
START_MODEL = ModelDef(
    (
        GroupDef(
            "application",
            "Application",
            (
                _m("seat_activation", _t(0.1, 0.05)),
                _m("active_days", _t(25, 20)),
                _m("key_features", _t(5, 4)),
            ),
        ),
        GroupDef(
            "base",
            "Base",
            (
                _m("last_meeting", _t(365, 400), higher_is_better=False, missing="bad"),
                _m("champion", _t(1, 1), missing="bad"),
                _m("nps", _t(10, 9)),
            ),
        ),
        GroupDef(
            "contents",
            "Contents",
            (
                _m("webinars", _t(2, 1)),
                _m("community", _t(2, 1)),
                _m("training", _t(3, 2)),
            ),
        ),
    )
)


def _clip(x: float, low: float, high: float) -> float:
    return min(high, max(low, x))


def book(accounts: int, dates: int, seed: int) -> list[Sample]:
    """Samples of every account active on each monthly reference date."""
    rng = random.Random(seed)
    months = dates + 6  # churn after the last reference date is known beyond the horizon
    out = []
    for account in range(accounts):
        health = rng.gauss(0, 1)
        sudden = rng.random() < 0.012  # a monthly risk of churn without warning
        path, churn_day = [], None
        for month in range(months):
            health = 0.85 * health + rng.gauss(0, 0.45)
            path.append(health)
            hazard = 1 / (1 + math.exp(4.2 + 1.4 * health)) + (0.01 if sudden else 0.004)
            if rng.random() < hazard:
                churn_day = 30 * month + rng.randint(0, 29)
                break
        for month, h in enumerate(path[:dates]):
            day = 30 * month
            if churn_day is not None and churn_day <= day:
                break
            met = rng.random() > 0.08 + 0.1 * (h < -1)
            values = (
                round(_clip(0.45 + 0.15 * h + rng.gauss(0, 0.12), 0, 1), 3),
                float(_clip(round(12 + 5 * h + rng.gauss(0, 5)), 0, 30)),
                float(_clip(round(2 + 0.8 * h + rng.gauss(0, 1.2)), 0, 5)),
                float(max(0, round(60 - 25 * h + rng.gauss(0, 25)))) if met else None,
                1.0 if h + rng.gauss(0, 1.2) > -0.6 else 0.0,
                float(_clip(round(7 + 1.5 * h + rng.gauss(0, 2)), 0, 10)) if rng.random() < 0.5 else None,
                float(rng.choice((0, 0, 1, 1, 2, 3))),
                float(max(0, round(1.5 - 0.5 * h + rng.gauss(0, 0.9)))),
                float(max(0, round(1 + 0.5 * h + rng.gauss(0, 1.1)))),
            )
            out.append(
                Sample(
                    account,
                    FIRST_REF + dt.timedelta(days=day),
                    values,
                    None if churn_day is None else churn_day - day,
                    ("enterprise", "mid", "smb")[account % 3],
                )
            )
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def matrix(samples: list[Sample]) -> np.ndarray:
    return np.array([[math.nan if v is None else v for v in s.values] for s in samples], dtype=float)


def sklearn_direct(x: np.ndarray, y: np.ndarray) -> Any:
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    ).fit(x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    samples = book(args.accounts, args.dates, args.seed)
    dates = sorted({s.ref for s in samples})
    split = dates[round(0.75 * len(dates))]
    train = [s for s in samples if s.ref < split]
    test = [s for s in samples if s.ref >= split]
    churn_rate = sum(churned(s, HORIZON) for s in samples) / len(samples)
    print(
        f"Bansō calibration benchmark: {args.accounts:,} accounts × {args.dates} monthly dates = "
        f"{len(samples):,} samples ({len(train):,} train, {len(test):,} test), "
        f"{churn_rate:.1%} churn within {HORIZON} days; book made in "
        f"{time.perf_counter() - started:.1f} s"
    )

    x_train = matrix(train)
    y_train = np.array([churned(s, HORIZON) for s in train])
    runs: dict[str, list[float]] = {}
    runs["calibrate"], proposal = timed(
        lambda: calibrate(START_MODEL, train, horizon_days=HORIZON), args.repeat
    )
    platt = fit_platt(proposal.model, train, horizon_days=HORIZON)
    runs["evaluate"], after = timed(
        lambda: evaluate(proposal.model, test, horizon_days=HORIZON, probability=platt), args.repeat
    )
    runs["fit_platt"], _ = timed(lambda: fit_platt(proposal.model, train, horizon_days=HORIZON), args.repeat)
    runs["sklearn"], _ = timed(lambda: sklearn_direct(x_train, y_train), args.repeat)
    runs["sklearn+matrix"], _ = timed(
        lambda: sklearn_direct(matrix(train), np.array([churned(s, HORIZON) for s in train])), args.repeat
    )
    peaks = {
        "calibrate": traced_peak_mb(lambda: calibrate(START_MODEL, train, horizon_days=HORIZON)),
        "evaluate": traced_peak_mb(
            lambda: evaluate(proposal.model, test, horizon_days=HORIZON, probability=platt)
        ),
        "sklearn": traced_peak_mb(lambda: sklearn_direct(x_train, y_train)),
        "sklearn+matrix": traced_peak_mb(
            lambda: sklearn_direct(matrix(train), np.array([churned(s, HORIZON) for s in train]))
        ),
    }

    print(f"\n== time (best of {args.repeat}, median) and peak traced memory")
    for key, label in (
        ("calibrate", "calibrate (train)"),
        ("evaluate", "evaluate (test)"),
        ("fit_platt", "fit_platt (train)"),
        ("sklearn", "sklearn LogisticRegression"),
        ("sklearn+matrix", "  + samples → matrix"),
    ):
        peak = f"  peak {peaks[key]:6.1f} MiB" if key in peaks else ""
        print(f"  {label:28} {min(runs[key]):7.3f} s  (median {statistics.median(runs[key]):.3f}){peak}")
    sk, sk_matrix = min(runs["sklearn"]), min(runs["sklearn+matrix"])
    cal = min(runs["calibrate"])
    print(
        f"  calibrate / sklearn fit: {cal / sk:.1f}×  (with the matrix built from samples: "
        f"{cal / sk_matrix:.1f}×); memory {peaks['calibrate'] / peaks['sklearn']:.1f}× "
        f"({peaks['calibrate'] / peaks['sklearn+matrix']:.1f}×)"
    )
    print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    before = evaluate(
        START_MODEL,
        test,
        horizon_days=HORIZON,
        probability=fit_platt(START_MODEL, train, horizon_days=HORIZON),
    )
    baseline = logistic_baseline(START_MODEL, train, test, horizon_days=HORIZON)
    print("\n== out of time (test dates, 90-day horizon)")
    print(
        f"  variant {proposal.variant}; inner check AUC {proposal.inner_auc_before} → "
        f"{proposal.inner_auc_after}"
    )
    for label, result in (("start", before), ("calibrated", after)):
        bands = " / ".join(
            f"{b.band} {b.share:.0%} churn {b.churn_rate:.1%}"
            for b in result.bands
            if b.share is not None and b.churn_rate is not None
        )
        print(
            f"  {label:10} AUC {result.auc} [{result.auc_low}, {result.auc_high}]  Brier "
            f"{result.brier} (base rate {result.brier_base_rate})  bands in order "
            f"{result.bands_in_order}: {bands}"
        )
    assert after.auc is not None and baseline is not None
    print(
        f"  logistic regression on the raw values: AUC {baseline} — calibrated/baseline "
        f"{after.auc / baseline:.3f} (goal ≥ 0.95)"
    )
    flagged = ", ".join(f"{m.key} {m.verdict} ({m.auc})" for m in proposal.measures if m.verdict != "signal")
    print(f"  flagged measures: {flagged or 'none'}")


if __name__ == "__main__":
    main()
