"""Computing health scores: grading accounts' measure values with a model, and the explanation
of a score (grades, points, weights, contributions, next steps).

A stored score keeps only the measures' raw values; because its version is frozen, its
explanation is rebuilt exactly from the definition and the values (``explain_values``,
``explain_rows``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.health.spec import ModelSpec, to_model_def
from app.health.values import AccountFacts, Values, collector_paused, compute_values, load_accounts
from app.scoring.health import (
    HealthResult,
    Scorer,
    explain_group,
    grade_value,
    key_feature_status,
    measure_order,
    row_inputs,
    score_book,
    stale_flags,
)


class _Book:
    """What the scores of one ``score_values`` call share: the model, the values, and the full
    results and explanations, built only when asked for (accounts with equal inputs to a group
    share one explanation dict, which must not be changed in place)."""

    def __init__(self, spec: ModelSpec, values: Values, *, as_of: dt.date) -> None:
        self.model = to_model_def(spec)
        self.values = values
        self.as_of = as_of
        flags = stale_flags(self.model, values.data_as_of, as_of=as_of)
        #: Bit i set when measure i's data is stale (the same for every account of the book).
        self.stale = sum(1 << i for i, flag in enumerate(flags) if flag)
        self._windows = {m.key: m.window_days for m in spec.measures()}
        self._scorer: Scorer | None = None
        self._explained: dict[int, dict[str, Any]] = {}

    def result(self, account_id: int) -> HealthResult:
        if self._scorer is None:
            self._scorer = Scorer(self.model, as_of=self.as_of)
        return self._scorer.score(self.values.inputs[account_id])

    def explain(self, result: HealthResult) -> list[dict[str, Any]]:
        explanation = []
        for group in result.groups:
            found = self._explained.get(id(group))  # the scorer keeps every group result alive
            if found is None:
                found = self._explained[id(group)] = explain_group(group, self._windows)
            explanation.append(found)
        return explanation


class Scored(NamedTuple):
    """One account's score as stored: score, band, key-feature status, the measures' raw values
    in the model's order and which of them were stale (bit i: measure i has a value whose data
    is too old). The full result and its explanation are built when asked for: the explanation
    is a function of the model's definition and these values (see ``stored_explanation``)."""

    account: AccountFacts
    score: float | None
    band: str | None
    status: str | None
    values: tuple[float | None, ...]
    stale: int
    book: _Book

    @property
    def result(self) -> HealthResult:
        return self.book.result(self.account.id)

    @property
    def explanation(self) -> list[dict[str, Any]]:
        return self.book.explain(self.result)


def explain(result: HealthResult, spec: ModelSpec) -> list[dict[str, Any]]:
    """The explanation served with a score: groups with every measure's value and contribution."""
    windows = {m.key: m.window_days for m in spec.measures()}
    return [explain_group(g, windows) for g in result.groups]


def explain_values(
    spec: ModelSpec, values: Sequence[float | None], stale: int, *, day: dt.date
) -> list[dict[str, Any]]:
    """The explanation of a stored score, rebuilt from its version's definition and its values
    (the same one the scorer gave when the score was computed)."""
    return explain_rows(spec, [(values, stale)], day=day)[0]


def explain_rows(
    spec: ModelSpec, rows: Sequence[tuple[Sequence[float | None], int]], *, day: dt.date
) -> list[list[dict[str, Any]]]:
    """The explanations of many stored scores of one version and day, each given as its
    ``(measure_values, stale_mask)``: what a page listing many accounts' measures reads.
    Accounts with equal inputs to a group share its explanation dict (do not change them)."""
    model_def = to_model_def(spec)
    scorer = Scorer(model_def, as_of=day)
    windows = {m.key: m.window_days for m in spec.measures()}
    explained: dict[int, dict[str, Any]] = {}
    out = []
    for values, stale in rows:
        result = scorer.score(row_inputs(model_def, values, stale, as_of=day))
        explanation = []
        for group in result.groups:
            found = explained.get(id(group))  # the scorer keeps every group result alive
            if found is None:
                found = explained[id(group)] = explain_group(group, windows)
            explanation.append(found)
        out.append(explanation)
    return out


def score_values(spec: ModelSpec, values: Values, *, as_of: dt.date) -> list[Scored]:
    """Grade pre-computed values (pure; no I/O)."""
    with collector_paused():
        return _score_values(spec, values, as_of=as_of)


def _score_values(spec: ModelSpec, values: Values, *, as_of: dt.date) -> list[Scored]:
    book = _Book(spec, values, as_of=as_of)
    scores = score_book(book.model, values.columns, values.data_as_of, as_of=as_of)
    rows = values.rows()
    if book.stale:
        # A stale flag only tells on a value: a measure with none is missing, stale or not.
        bits = [(i, 1 << i) for i in range(len(values.keys)) if book.stale >> i & 1]
        stale = [sum(bit for i, bit in bits if row[i] is not None) for row in rows]
    else:
        stale = [0] * len(rows)
    if not spec.key_feature_status:
        return [
            Scored(account, s, b, None, row, mask, book)
            for account, (s, b), row, mask in zip(values.accounts, scores, rows, stale, strict=True)
        ]
    measures = {m.key: m for m in measure_order(book.model)}
    out = []
    for account, (s, b), row, mask in zip(values.accounts, scores, rows, stale, strict=True):
        monthly: dict[str, list[Any]] = {}
        for key, series in values.history[account.id].items():
            m = measures[key]
            grades = []
            for value in series:
                if value is None:
                    grades.append("bad" if m.missing == "bad" else "normal")
                else:
                    grades.append(grade_value(m, value)[2] or "normal")
            monthly[key] = grades
        out.append(Scored(account, s, b, key_feature_status(monthly).label, row, mask, book))
    return out


def score_accounts(
    session: Session,
    *,
    spec: ModelSpec,
    as_of: dt.date,
    tz: ZoneInfo,
    account_ids: list[int] | None = None,
    include_churned: bool = False,
) -> list[Scored]:
    """Score accounts (all active ones by default) with a model at the end of ``as_of``."""
    accounts = load_accounts(
        session, account_ids=account_ids, as_of=as_of, include_churned=include_churned, tz=tz
    )
    values = compute_values(session, spec, accounts=accounts, as_of=as_of, tz=tz)
    return score_values(spec, values, as_of=as_of)
