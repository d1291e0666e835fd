"""How well scores separated accounts that later churned from those that stayed.

* **ROC AUC**: the chance that a randomly chosen account that stayed scored higher than a
  randomly chosen account that churned (ties count half). 0.5 is a coin toss, 1.0 perfect; below
  0.5 the measure points the wrong way. Computed with the rank-sum (Mann–Whitney) formula.
* **Churn rate by band**: churned ÷ accounts in each band.
* **Lift**: a band's churn rate ÷ the overall churn rate (a "bad" lift of 3 means accounts graded
  bad churned three times as often as average).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """One account at one reference date: its score then, and whether it churned afterwards."""

    score: float
    churned: bool
    band: str | None = None


@dataclass(frozen=True)
class BandOutcome:
    band: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None


def roc_auc(observations: Sequence[Observation]) -> float | None:
    """P(score of a stayer > score of a churner); None without both kinds of outcome."""
    stayed = sum(1 for o in observations if not o.churned)
    churned = len(observations) - stayed
    if stayed == 0 or churned == 0:
        return None
    ranked = sorted(observations, key=lambda o: o.score)
    rank_sum = 0.0  # sum of (1-based, tie-averaged) ranks of the stayers
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1].score == ranked[i].score:
            j += 1
        average_rank = (i + j) / 2 + 1
        rank_sum += average_rank * sum(1 for o in ranked[i:j + 1] if not o.churned)
        i = j + 1
    u = rank_sum - stayed * (stayed + 1) / 2
    return round(u / (stayed * churned), 4)


def by_band(observations: Sequence[Observation], bands: Sequence[str]) -> list[BandOutcome]:
    """Churn rate and lift for each band, in the order given."""
    total = len(observations)
    overall = sum(1 for o in observations if o.churned) / total if total else None
    out = []
    for name in bands:
        members = [o for o in observations if o.band == name]
        churned = sum(1 for o in members if o.churned)
        rate = churned / len(members) if members else None
        lift = round(rate / overall, 3) if rate is not None and overall else None
        out.append(BandOutcome(name, len(members), churned,
                               round(rate, 4) if rate is not None else None, lift))
    return out
