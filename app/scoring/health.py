"""Health scores: grade each measure, combine measures into groups and groups into a score.

The formula, in words:

* Each measure's raw value is graded into a *fraction* between 0 and 1 by its scheme:
  **thresholds** (good → 1, normal → 0.5, bad → 0), **breakpoints** (0–4 points → points / 4),
  or **linear** (0 at one bound, 1 at the other, clamped). "Lower is better" measures grade
  the other way round. A measure's grade label is good / normal / bad.
* A measure with no value is *missing*; one whose data is older than its freshness limit is
  *stale*. Both follow the measure's missing-data rule: ``bad`` counts it as 0, ``exclude``
  leaves it out and the remaining weights are renormalised.
* A group's score is the weighted mean of its measures' fractions (``weighted``), or the fraction
  of its worst measure (``worst``). The overall score is the weighted mean of the groups, times
  the model's scale (0–100 by default, 0–4 for the Adoption preset).
* Every measure's *contribution* is its share of the overall score:
  ``group weight × measure weight × fraction × scale`` with both weights normalised over what is
  included (in a ``worst`` group, only the worst measure contributes). Contributions are rounded
  to 2 decimals and the score is their sum, so they add up to the score exactly.
* The band is good / normal / bad by the model's cuts on its scale.

Many accounts at once: ``score_book`` gives every account's score and band from the values
column by column, grading each distinct value once and scoring each distinct combination of
grades once. A stored score keeps only its values and stale flags; ``row_inputs`` turns them
back into the inputs that give exactly the same result and explanation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

GradeLabel = Literal["good", "normal", "bad"]
#: The bands of a score, best first (a measure's grades have the same names).
BANDS: tuple[GradeLabel, ...] = ("good", "normal", "bad")
MissingRule = Literal["bad", "exclude"]
GroupMode = Literal["weighted", "worst"]
Status = Literal["ok", "missing", "stale"]

#: Fractions for threshold grades: good counts fully, normal half, bad nothing.
GRADE_FRACTION: dict[str, float] = {"good": 1.0, "normal": 0.5, "bad": 0.0}
#: A model's band cuts unless it sets its own, on the default 0–100 scale: good from 70, normal
#: from 40, bad below.
DEFAULT_BAND_GOOD = 70
DEFAULT_BAND_NORMAL = 40


class ModelError(ValueError):
    """A model definition that cannot be scored; ``field`` says where (``groups[0].measures[1]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Grading:
    """How a raw value becomes a fraction. Which fields matter depends on ``kind``:

    * ``thresholds``: ``good`` and ``normal`` cuts. Higher is better: value ≥ good → good,
      ≥ normal → normal, else bad (e.g. good=10, normal=5: 9.99 → normal, 10 → good).
    * ``breakpoints``: four ``cuts``; a point for each cut reached (higher is better: value ≥ cut),
      so 0–4 points (e.g. cuts 0.2, 0.4, 0.6, 0.8: a licence activation of 0.5 → 2 points).
    * ``linear``: 0 at ``low``, 1 at ``high`` (reversed when lower is better), clamped.
    """

    kind: Literal["thresholds", "breakpoints", "linear"]
    good: float | None = None
    normal: float | None = None
    cuts: tuple[float, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class MeasureDef:
    key: str
    name: str
    grading: Grading
    weight: float = 1.0
    higher_is_better: bool = True
    missing: MissingRule = "exclude"
    #: Data older than this many days is stale (None: never stale).
    freshness_days: int | None = None


@dataclass(frozen=True)
class GroupDef:
    key: str
    name: str
    measures: tuple[MeasureDef, ...]
    weight: float = 1.0
    mode: GroupMode = "weighted"


@dataclass(frozen=True)
class ModelDef:
    groups: tuple[GroupDef, ...]
    #: Top of the scale: 100 by default, 4 for the Adoption preset.
    scale_max: float = 100.0
    #: Band cuts on the scale: score ≥ band_good → good, ≥ band_normal → normal, else bad
    #: (e.g. 0–4 scale with the adoption line 1.5: 1.49 → bad, 1.50 → normal).
    band_good: float = DEFAULT_BAND_GOOD
    band_normal: float = DEFAULT_BAND_NORMAL


@dataclass(frozen=True)
class MeasureInput:
    """A measure's raw value (None: no data) and the date of the newest data behind it."""

    value: float | None
    data_as_of: dt.date | None = None


@dataclass(frozen=True)
class NextStep:
    """The smallest change in the raw value that moves the measure up a grade or point."""

    target: str  # "normal", "good", "3 points", "+10 points"
    value_needed: float
    change: float


@dataclass(frozen=True)
class MeasureResult:
    key: str
    name: str
    value: float | None
    status: Status
    grade: GradeLabel | None
    fraction: float | None  # after grading; None when excluded
    points: float | None  # the scheme's own points: 0–4 for breakpoints, 0–100 for linear, 2/1/0
    weight: float  # effective share of the overall score (0 when excluded)
    contribution: float
    included: bool
    next_step: NextStep | None


@dataclass(frozen=True)
class GroupResult:
    key: str
    name: str
    mode: GroupMode
    score: float | None  # on the model's scale
    weight: float  # effective share of the overall score
    contribution: float
    measures: tuple[MeasureResult, ...]
    worst: str | None = None  # the measure that sets a worst-of group's score


@dataclass(frozen=True)
class HealthResult:
    score: float | None  # None when no measure could be scored
    band: GradeLabel | None
    scale_max: float
    groups: tuple[GroupResult, ...]
    measures_included: int
    measures_total: int

    @property
    def measures(self) -> tuple[MeasureResult, ...]:
        return tuple(m for g in self.groups for m in g.measures)


# -- validation ---------------------------------------------------------------------------------


def validate_model(model: ModelDef) -> None:
    """Raise ModelError naming the first problem; a valid model can score any inputs."""
    if not model.groups:
        raise ModelError("groups", "a model needs at least one group")
    if model.scale_max <= 0:
        raise ModelError("scale_max", "must be positive")
    if not 0 <= model.band_normal <= model.band_good <= model.scale_max:
        raise ModelError("band_good", "need 0 ≤ band_normal ≤ band_good ≤ scale_max")
    keys: set[str] = set()
    for gi, group in enumerate(model.groups):
        where = f"groups[{gi}]"
        if group.weight <= 0:
            raise ModelError(f"{where}.weight", "must be positive")
        if not group.measures:
            raise ModelError(f"{where}.measures", "a group needs at least one measure")
        for mi, measure in enumerate(group.measures):
            at = f"{where}.measures[{mi}]"
            if measure.key in keys:
                raise ModelError(f"{at}.key", f"duplicate measure key {measure.key!r}")
            keys.add(measure.key)
            if measure.weight <= 0:
                raise ModelError(f"{at}.weight", "must be positive")
            if measure.freshness_days is not None and measure.freshness_days < 1:
                raise ModelError(f"{at}.freshness_days", "must be at least 1")
            _validate_grading(measure, f"{at}.grading")


def _validate_grading(measure: MeasureDef, at: str) -> None:
    g = measure.grading
    up = measure.higher_is_better
    if g.kind == "thresholds":
        if g.good is None or g.normal is None:
            raise ModelError(at, "thresholds need `good` and `normal`")
        if (up and g.good < g.normal) or (not up and g.good > g.normal):
            better = "≥" if up else "≤"
            raise ModelError(at, f"`good` must be {better} `normal` for this direction")
    elif g.kind == "breakpoints":
        if len(g.cuts) != 4:
            raise ModelError(at, "breakpoints need exactly 4 cuts (for 1, 2, 3 and 4 points)")
        ordered = sorted(g.cuts) if up else sorted(g.cuts, reverse=True)
        if list(g.cuts) != ordered:
            raise ModelError(at, "cuts must be ascending (descending when lower is better)")
    elif g.kind == "linear":
        if g.low is None or g.high is None or g.low >= g.high:
            raise ModelError(at, "linear needs `low` < `high`")
    else:  # pragma: no cover - Literal guards this for typed callers
        raise ModelError(at, f"unknown grading {g.kind!r}")


# -- grading ------------------------------------------------------------------------------------


def grade_value(measure: MeasureDef, value: float) -> tuple[float, float, GradeLabel | None]:
    """(fraction 0–1, the scheme's points, threshold grade or None) for one raw value."""
    g = measure.grading
    up = measure.higher_is_better
    if g.kind == "thresholds":
        assert g.good is not None and g.normal is not None
        if (value >= g.good) if up else (value <= g.good):
            label: GradeLabel = "good"
        elif (value >= g.normal) if up else (value <= g.normal):
            label = "normal"
        else:
            label = "bad"
        return GRADE_FRACTION[label], {"good": 2.0, "normal": 1.0, "bad": 0.0}[label], label
    if g.kind == "breakpoints":
        points = sum(1 for cut in g.cuts if (value >= cut if up else value <= cut))
        return points / 4, float(points), None
    assert g.low is not None and g.high is not None
    share = (value - g.low) / (g.high - g.low)
    fraction = min(1.0, max(0.0, share if up else 1.0 - share))
    return fraction, round(fraction * 100, 2), None


def next_step(measure: MeasureDef, value: float) -> NextStep | None:
    """What value would lift the measure one step (None at the top already)."""
    g = measure.grading
    up = measure.higher_is_better

    def step(target: str, needed: float) -> NextStep:
        return NextStep(target, round(needed, 4), round(needed - value, 4))

    if g.kind == "thresholds":
        assert g.good is not None and g.normal is not None
        _, _, label = grade_value(measure, value)
        if label == "bad":
            return step("normal", g.normal)
        if label == "normal":
            return step("good", g.good)
        return None
    if g.kind == "breakpoints":
        for points, cut in enumerate(g.cuts, start=1):
            if not (value >= cut if up else value <= cut):
                return step(f"{points} points", cut)
        return None
    assert g.low is not None and g.high is not None
    fraction, _, _ = grade_value(measure, value)
    if fraction >= 1.0:
        return None
    target_fraction = min(1.0, fraction + 0.1)
    span = g.high - g.low
    needed = g.low + target_fraction * span if up else g.high - target_fraction * span
    return step("+10 points", needed)


def band(model: ModelDef, score: float) -> GradeLabel:
    """good / normal / bad by the model's cuts (score ≥ cut is in the higher band)."""
    if score >= model.band_good:
        return "good"
    if score >= model.band_normal:
        return "normal"
    return "bad"


def _label(model: ModelDef, fraction: float) -> GradeLabel:
    return band(model, fraction * model.scale_max)


# -- scoring ------------------------------------------------------------------------------------


@dataclass
class _Graded:
    measure: MeasureDef
    value: float | None
    status: Status
    fraction: float | None = None
    points: float | None = None
    grade: GradeLabel | None = None
    step: NextStep | None = None
    included: bool = False
    weight: float = 0.0
    contribution: float = 0.0


@dataclass
class _Group:
    group: GroupDef
    graded: list[_Graded] = field(default_factory=list)
    fraction: float | None = None
    worst: str | None = None


def score(
    model: ModelDef, inputs: Mapping[str, MeasureInput], *, as_of: dt.date
) -> HealthResult:
    """Score one account: ``inputs`` maps measure keys to values (absent keys are missing)."""
    groups = [_grade_group(model, g, inputs, as_of) for g in model.groups]
    overall = _overall(model, groups)
    total_weight = sum(g.group.weight for g in groups if g.fraction is not None)
    results = tuple(_group_result(model, g, total_weight) for g in groups)
    included = sum(1 for g in groups for m in g.graded if m.included)
    return HealthResult(
        score=overall,
        band=band(model, overall) if overall is not None else None,
        scale_max=model.scale_max,
        groups=results,
        measures_included=included,
        measures_total=sum(len(g.group.measures) for g in groups),
    )


def _overall(model: ModelDef, groups: list[_Group]) -> float | None:
    """Share the score out over the groups that count and their measures; the score is the sum
    of the rounded contributions (None when no group counts)."""
    live = [g for g in groups if g.fraction is not None]
    total_weight = sum(g.group.weight for g in live)
    for g in live:
        _distribute(g, g.group.weight / total_weight, model.scale_max)
    contributions = [m.contribution for g in groups for m in g.graded]
    return round(sum(contributions), 2) if live else None


_MISSING = MeasureInput(None)


def _status(measure: MeasureDef, given: MeasureInput, as_of: dt.date) -> Status:
    """ok, missing (no value) or stale (data older than the measure's freshness limit)."""
    if given.value is None:
        return "missing"
    if (
        measure.freshness_days is not None
        and (given.data_as_of is None or (as_of - given.data_as_of).days > measure.freshness_days)
    ):
        return "stale"
    return "ok"


_Grading = tuple[float, float, GradeLabel, NextStep | None]


def _grade_ok(
    model: ModelDef, measure: MeasureDef, value: float,
    cache: dict[tuple[int, object], _Grading] | None,
) -> _Grading:
    """(fraction, points, grade, next step) of a value that counts; ``cache`` remembers them
    per measure (by identity) and value."""
    if cache is None:
        fraction, points, label = grade_value(measure, value)
        return fraction, points, label or _label(model, fraction), next_step(measure, value)
    key = (id(measure), _exact(value))
    found = cache.get(key)
    if found is None:
        found = cache[key] = _grade_ok(model, measure, value, None)
    return found


def _grade_group(
    model: ModelDef, group: GroupDef, inputs: Mapping[str, MeasureInput], as_of: dt.date,
    cache: dict[tuple[int, object], _Grading] | None = None,
) -> _Group:
    out = _Group(group)
    for measure in group.measures:
        given = inputs.get(measure.key, _MISSING)
        status = _status(measure, given, as_of)
        graded = _Graded(measure, given.value, status)
        if status == "ok":
            assert given.value is not None
            graded.fraction, graded.points, graded.grade, graded.step = _grade_ok(
                model, measure, given.value, cache
            )
            graded.included = True
        elif measure.missing == "bad":
            graded.fraction, graded.points, graded.grade = 0.0, 0.0, "bad"
            graded.included = True
        out.graded.append(graded)
    _combine(out)
    return out


def _combine(out: _Group) -> None:
    """The group's fraction (and worst measure) from its graded measures."""
    group = out.group
    included = [m for m in out.graded if m.included]
    if included:
        if group.mode == "worst":
            worst = min(included, key=lambda m: (m.fraction or 0.0, -m.measure.weight))
            out.fraction, out.worst = worst.fraction, worst.measure.key
        else:
            weight = sum(m.measure.weight for m in included)
            out.fraction = sum((m.fraction or 0.0) * m.measure.weight for m in included) / weight


def _distribute(group: _Group, share: float, scale_max: float) -> None:
    included = [m for m in group.graded if m.included]
    if group.group.mode == "worst":
        for m in included:
            m.weight = share if m.measure.key == group.worst else 0.0
    else:
        weight = sum(m.measure.weight for m in included)
        for m in included:
            m.weight = share * m.measure.weight / weight
    for m in included:
        m.contribution = round(m.weight * (m.fraction or 0.0) * scale_max, 2)


def _group_result(model: ModelDef, group: _Group, total_weight: float) -> GroupResult:
    share = group.group.weight / total_weight if group.fraction is not None else 0.0
    measures = tuple(
        MeasureResult(
            key=m.measure.key, name=m.measure.name, value=m.value, status=m.status,
            grade=m.grade, fraction=m.fraction if m.included else None, points=m.points,
            weight=round(m.weight, 6), contribution=m.contribution, included=m.included,
            next_step=m.step,
        )
        for m in group.graded
    )
    return GroupResult(
        key=group.group.key, name=group.group.name, mode=group.group.mode,
        score=round(group.fraction * model.scale_max, 2) if group.fraction is not None else None,
        weight=round(share, 6), contribution=round(sum(m.contribution for m in measures), 2),
        measures=measures, worst=group.worst,
    )


class Scorer:
    """Scores many accounts with one model, grading each distinct group input only once.

    A group's result depends only on its measures' values and statuses and on the total weight
    of the groups that count, so accounts whose inputs to a group are equal share one
    ``GroupResult`` object (callers may cache what they derive from it by identity). The result
    is exactly ``score``'s: in a book of 10,000 accounts the ABC preset's three groups see a few
    thousand distinct inputs, not 30,000.

    Inputs are first told apart by identity — a caller that gives equal inputs as one shared
    ``MeasureInput`` object (as ``Values.inputs`` does) makes the lookup cheapest — and then by
    value, value type and status, so equal inputs given as separate objects share too.
    """

    def __init__(self, model: ModelDef, *, as_of: dt.date) -> None:
        self.model = model
        self.as_of = as_of
        self._measures_total = sum(len(g.measures) for g in model.groups)
        self._keys = [tuple(m.key for m in g.measures) for g in model.groups]
        self._weights = [g.weight for g in model.groups]
        # Per group: the identities of its inputs → (their values and statuses, whether the
        # group counts, the inputs themselves: kept alive so that no identity is reused).
        self._seen: list[dict[tuple[int, ...], tuple[tuple[object, ...], bool, object]]] = [
            {} for _ in model.groups
        ]
        self._memo: dict[tuple[object, ...], tuple[GroupResult, tuple[float, ...], int]] = {}
        self._graded: dict[tuple[int, object], _Grading] = {}  # the model's measures are alive

    def _describe(
        self, index: int, given: tuple[MeasureInput | None, ...]
    ) -> tuple[tuple[object, ...], bool, object]:
        key: list[object] = []
        counts = False
        for measure, one in zip(self.model.groups[index].measures, given, strict=True):
            status = _status(measure, one or _MISSING, self.as_of)
            key.append(_exact(None if one is None else one.value))
            key.append(status)
            counts = counts or status == "ok" or measure.missing == "bad"
        return tuple(key), counts, given

    def score(self, inputs: Mapping[str, MeasureInput]) -> HealthResult:
        """Same as ``score(model, inputs, as_of=...)``."""
        model = self.model
        described = []
        total_weight: float = 0
        live = False
        for index, keys in enumerate(self._keys):
            given = tuple(map(inputs.get, keys))
            ids = tuple(map(id, given))
            seen = self._seen[index].get(ids)
            if seen is None:
                seen = self._seen[index][ids] = self._describe(index, given)
            described.append(seen[0])
            if seen[1]:
                total_weight += self._weights[index]  # in group order, as ``score`` adds them
                live = True
        groups = []
        contributions: list[float] = []
        included = 0
        for index, group in enumerate(model.groups):
            memo_key = (index, described[index], total_weight)
            found = self._memo.get(memo_key)
            if found is None:
                graded = _grade_group(model, group, inputs, self.as_of, self._graded)
                if graded.fraction is not None:
                    _distribute(graded, group.weight / total_weight, model.scale_max)
                result = _group_result(model, graded, total_weight)
                found = self._memo[memo_key] = (
                    result, tuple(m.contribution for m in result.measures),
                    sum(1 for m in graded.graded if m.included),
                )
            groups.append(found[0])
            contributions.extend(found[1])
            included += found[2]
        overall = round(sum(contributions), 2) if live else None
        return HealthResult(
            score=overall,
            band=band(model, overall) if overall is not None else None,
            scale_max=model.scale_max,
            groups=tuple(groups),
            measures_included=included,
            measures_total=self._measures_total,
        )


# -- explanations as plain data ------------------------------------------------------------------


def explain_group(group: GroupResult, windows: Mapping[str, int | None]) -> dict[str, Any]:
    """A group's result as the JSON-ready explanation the API serves (``windows``: each
    measure's window in days)."""
    return {
        "key": group.key, "name": group.name, "mode": group.mode, "score": group.score,
        "weight": group.weight, "contribution": group.contribution, "worst": group.worst,
        "measures": [
            {
                "key": m.key, "name": m.name, "value": m.value,
                "window_days": windows.get(m.key), "status": m.status, "grade": m.grade,
                "points": m.points, "weight": m.weight, "contribution": m.contribution,
                "included": m.included,
                "next_step": (
                    {"target": m.next_step.target, "value_needed": m.next_step.value_needed,
                     "change": m.next_step.change}
                    if m.next_step else None
                ),
            }
            for m in group.measures
        ],
    }


# -- many accounts at once, column by column ----------------------------------------------------


def measure_order(model: ModelDef) -> tuple[MeasureDef, ...]:
    """The model's measures in order (groups in order, each group's measures in order): the
    order of ``score_book``'s columns and of a stored snapshot's values."""
    return tuple(m for g in model.groups for m in g.measures)


def stale_flags(
    model: ModelDef, data_as_of: Sequence[dt.date | None], *, as_of: dt.date
) -> tuple[bool, ...]:
    """Per measure (in ``measure_order``), whether a value with data as of that date is stale on
    ``as_of`` (its freshness limit exceeded, as ``score`` decides)."""
    return tuple(
        _status(measure, MeasureInput(0.0, fresh), as_of) == "stale"
        for measure, fresh in zip(measure_order(model), data_as_of, strict=True)
    )


def row_inputs(
    model: ModelDef, values: Sequence[float | None], stale: int, *, as_of: dt.date
) -> dict[str, MeasureInput]:
    """Inputs that ``score`` grades as a stored row: ``values`` in ``measure_order``, bit ``i``
    of ``stale`` set when measure ``i``'s data was stale (and ``as_of`` the row's day)."""
    return {
        measure.key: MeasureInput(value, None if stale >> i & 1 else as_of)
        for i, (measure, value) in enumerate(zip(measure_order(model), values, strict=True))
    }


def score_book(
    model: ModelDef, columns: Sequence[Sequence[float | None]],
    data_as_of: Sequence[dt.date | None], *, as_of: dt.date,
) -> list[tuple[float | None, GradeLabel | None]]:
    """Score and band of every account of a book given column by column: ``columns[i][a]`` is
    measure ``i``'s raw value (``measure_order``) for account ``a``, ``data_as_of[i]`` the date
    of the newest data behind measure ``i``.

    Exactly ``score``'s score and band for each account, without its explanation. A score
    depends on the values only through their grades, so each distinct value is graded once per
    measure (10,000 seat-activation ratios become three threshold grades), and each distinct
    combination of grades is scored once: a book of 10,000 accounts under the ABC preset costs a
    few hundred scorings, not 10,000.
    """
    measures = measure_order(model)
    stale = stale_flags(model, data_as_of, as_of=as_of)
    # Per measure and account, what the value counts as: its fraction, or None when excluded
    # (missing or stale under the "exclude" rule; "bad" counts them as 0).
    coded: list[list[float | None]] = []
    for measure, column, is_stale in zip(measures, columns, stale, strict=True):
        unusable = 0.0 if measure.missing == "bad" else None
        if is_stale:
            coded.append([unusable] * len(column))
            continue
        grades: dict[float | None, float | None] = {None: unusable}
        for value in set(column).difference(grades):
            assert value is not None
            grades[value] = grade_value(measure, value)[0]
        coded.append([grades[v] for v in column])
    spans = []
    start = 0
    for group in model.groups:
        spans.append((start, start + len(group.measures)))
        start += len(group.measures)
    combos = list(zip(*(zip(*coded[a:b], strict=True) for a, b in spans), strict=True))
    fractions = _Fractions(model)
    scored = {combo: fractions.score(combo) for combo in set(combos)}
    return [scored[combo] for combo in combos]


class _Fractions:
    """Scores from the measures' fractions (None: excluded), by ``score``'s own steps; each
    group's fractions are combined once, and shared out once per total weight of the groups
    that count."""

    def __init__(self, model: ModelDef) -> None:
        self.model = model
        self._groups: list[dict[tuple[float | None, ...], _Group]] = [{} for _ in model.groups]
        self._parts: dict[tuple[int, tuple[float | None, ...], float], tuple[float, ...]] = {}

    def _group(self, index: int, fractions: tuple[float | None, ...]) -> _Group:
        group = self.model.groups[index]
        out = _Group(group)
        for measure, fraction in zip(group.measures, fractions, strict=True):
            graded = _Graded(measure, None, "ok", fraction=fraction)
            graded.included = fraction is not None
            out.graded.append(graded)
        _combine(out)
        return out

    def score(
        self, combo: tuple[tuple[float | None, ...], ...]
    ) -> tuple[float | None, GradeLabel | None]:
        live = []
        for index, fractions in enumerate(combo):
            found = self._groups[index].get(fractions)
            if found is None:
                found = self._groups[index][fractions] = self._group(index, fractions)
            live.append(found.fraction is not None)
        if not any(live):
            return None, None
        total_weight = sum(g.weight for g, counts in zip(self.model.groups, live, strict=True) if counts)
        contributions: list[float] = []
        for index, fractions in enumerate(combo):
            key = (index, fractions, total_weight)
            parts = self._parts.get(key)
            if parts is None:
                out = self._group(index, fractions)
                if out.fraction is not None:
                    _distribute(out, out.group.weight / total_weight, self.model.scale_max)
                parts = self._parts[key] = tuple(m.contribution for m in out.graded)
            contributions.extend(parts)
        overall = round(sum(contributions), 2)
        return overall, band(self.model, overall)


def _exact(value: float | None) -> object:
    """A memo key that tells apart what ``==`` does not: 1 from 1.0, 0.0 from -0.0."""
    if value is None:
        return None
    if value == 0:
        return (value.__class__, "zero", math.copysign(1.0, value))
    return (value.__class__, value)


# -- key-feature status (domain.md §5) ------------------------------------------------------------


@dataclass(frozen=True)
class KeyFeatureStatus:
    """[normal] / [1bad] / [2bad] / [3bad] from monthly key-feature grades.

    The level is the number of key features graded bad in the latest month (at most 3), or 3
    when any key feature has been bad in each of the last three months: features A and B bad
    this month → [2bad]; feature B bad three months running → [3bad].
    """

    label: str
    level: int
    bad_now: tuple[str, ...]
    bad_three_months: tuple[str, ...]


def key_feature_status(monthly: Mapping[str, Sequence[GradeLabel]]) -> KeyFeatureStatus:
    """``monthly`` maps each key feature to its grades, oldest month first, latest last."""
    bad_now = tuple(sorted(k for k, grades in monthly.items() if grades and grades[-1] == "bad"))
    streak = tuple(sorted(
        k for k, grades in monthly.items()
        if len(grades) >= 3 and all(g == "bad" for g in grades[-3:])
    ))
    level = 3 if streak else min(3, len(bad_now))
    return KeyFeatureStatus("normal" if level == 0 else f"{level}bad", level, bad_now, streak)
