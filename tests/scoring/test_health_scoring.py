"""The pure health-score core: grading, weighting, missing data, worst-of, bands, explanations."""

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.health import (
    Grading,
    GroupDef,
    KeyFeatureStatus,
    MeasureDef,
    MeasureInput,
    ModelDef,
    ModelError,
    band,
    grade_value,
    key_feature_status,
    next_step,
    score,
    validate_model,
)

AS_OF = dt.date(2026, 11, 23)
THRESHOLDS = Grading("thresholds", good=10, normal=5)
BREAKPOINTS = Grading("breakpoints", cuts=(0.2, 0.4, 0.6, 0.8))
LINEAR = Grading("linear", low=0, high=50)


def measure(key: str, grading: Grading = THRESHOLDS, **kw) -> MeasureDef:
    return MeasureDef(key=key, name=key.title(), grading=grading, **kw)


def model(*groups: GroupDef, **kw) -> ModelDef:
    return ModelDef(groups=groups, **kw)


def inputs(**values: float | None) -> dict[str, MeasureInput]:
    return {k: MeasureInput(v, AS_OF) for k, v in values.items()}


@pytest.mark.parametrize(
    ("value", "higher", "grade"),
    [
        (9.99, True, "normal"), (10, True, "good"), (5, True, "normal"), (4.99, True, "bad"),
    ],
)
def test_thresholds_higher_is_better(value: float, higher: bool, grade: str) -> None:
    assert grade_value(measure("m", higher_is_better=higher), value)[2] == grade


@pytest.mark.parametrize(
    ("days_since", "grade"), [(13, "good"), (14, "good"), (15, "normal"), (30, "normal"), (31, "bad")]
)
def test_thresholds_lower_is_better(days_since: int, grade: str) -> None:
    m = measure("days_since_meeting", Grading("thresholds", good=14, normal=30),
                higher_is_better=False)
    assert grade_value(m, days_since)[2] == grade


@pytest.mark.parametrize(
    ("activation", "points"), [(0.0, 0), (0.19, 0), (0.2, 1), (0.5, 2), (0.79, 3), (0.8, 4), (1, 4)]
)
def test_breakpoints_give_zero_to_four_points(activation: float, points: int) -> None:
    fraction, got, label = grade_value(measure("m", BREAKPOINTS), activation)
    assert (got, fraction, label) == (points, points / 4, None)


def test_linear_is_clamped_and_reversible() -> None:
    up = measure("m", LINEAR)
    down = measure("m", LINEAR, higher_is_better=False)
    assert [grade_value(up, v)[0] for v in (-5, 0, 25, 50, 80)] == [0, 0, 0.5, 1, 1]
    assert [grade_value(down, v)[0] for v in (0, 25, 50)] == [1, 0.5, 0]


def test_overall_is_weighted_mean_of_groups_and_contributions_add_up() -> None:
    m = model(
        GroupDef("a", "Application", (measure("logins", weight=2), measure("reports")), weight=2),
        GroupDef("b", "Base", (measure("meetings"),), weight=1),
    )
    result = score(m, inputs(logins=10, reports=0, meetings=7), as_of=AS_OF)
    # group a: (1×2 + 0×1)/3 = 0.6667; group b: 0.5 → (0.6667×2 + 0.5)/3 × 100 = 61.11
    assert result.score == pytest.approx(61.11, abs=0.01)
    assert result.groups[0].score == pytest.approx(66.67, abs=0.01)
    assert round(sum(x.contribution for x in result.measures), 2) == result.score
    assert result.band == "normal"
    weights = [x.weight for x in result.measures]
    assert sum(weights) == pytest.approx(1, abs=1e-5)
    assert weights == pytest.approx([4 / 9, 2 / 9, 1 / 3], abs=1e-5)


def test_missing_excluded_renormalises_and_missing_bad_counts_zero() -> None:
    excl = model(GroupDef("g", "G", (measure("a"), measure("b", missing="exclude"))))
    bad = model(GroupDef("g", "G", (measure("a"), measure("b", missing="bad"))))
    assert score(excl, inputs(a=10), as_of=AS_OF).score == 100
    result = score(bad, inputs(a=10), as_of=AS_OF)
    assert result.score == 50
    b = result.measures[1]
    assert (b.status, b.grade, b.included, b.contribution) == ("missing", "bad", True, 0)


def test_a_group_with_nothing_included_drops_out() -> None:
    m = model(GroupDef("a", "A", (measure("x"),)), GroupDef("b", "B", (measure("y"),)))
    result = score(m, inputs(x=10), as_of=AS_OF)
    assert result.score == 100
    assert result.groups[1].score is None and result.groups[1].weight == 0


def test_no_data_at_all_gives_no_score() -> None:
    result = score(model(GroupDef("a", "A", (measure("x"),))), {}, as_of=AS_OF)
    assert (result.score, result.band, result.measures_included) == (None, None, 0)


def test_stale_data_is_flagged_and_follows_the_missing_rule() -> None:
    m = model(GroupDef("g", "G", (
        measure("fresh", freshness_days=3),
        measure("old", freshness_days=3, missing="exclude"),
    )))
    result = score(m, {
        "fresh": MeasureInput(10, AS_OF - dt.timedelta(days=3)),
        "old": MeasureInput(0, AS_OF - dt.timedelta(days=4)),
    }, as_of=AS_OF)
    assert [x.status for x in result.measures] == ["ok", "stale"]
    assert result.score == 100  # the stale zero is not read as a customer in trouble


def test_worst_of_group_takes_its_worst_measure_and_explains_it() -> None:
    m = model(GroupDef("g", "G", (measure("a"), measure("b"), measure("c")), mode="worst"))
    result = score(m, inputs(a=10, b=6, c=0), as_of=AS_OF)
    group = result.groups[0]
    assert (group.score, group.worst) == (0, "c")
    result = score(m, inputs(a=10, b=6, c=12), as_of=AS_OF)
    assert (result.score, result.groups[0].worst) == (50, "b")
    assert [x.contribution for x in result.measures] == [0, 50, 0]


def test_adoption_line_on_the_zero_to_four_scale() -> None:
    m = model(GroupDef("g", "G", (measure("x", LINEAR),)), scale_max=4, band_good=2.5,
              band_normal=1.5)
    assert band(m, 1.49) == "bad"
    assert band(m, 1.5) == "normal"
    assert score(m, inputs(x=25), as_of=AS_OF).score == 2.0


@pytest.mark.parametrize(
    ("grading", "higher", "value", "target", "needed"),
    [
        (THRESHOLDS, True, 3, "normal", 5),
        (THRESHOLDS, True, 7, "good", 10),
        (THRESHOLDS, True, 10, None, None),
        (Grading("thresholds", good=14, normal=30), False, 40, "normal", 30),
        (BREAKPOINTS, True, 0.45, "3 points", 0.6),
        (BREAKPOINTS, True, 0.9, None, None),
        (LINEAR, True, 10, "+10 points", 15),
    ],
)
def test_next_step_says_what_would_move_the_measure(
    grading: Grading, higher: bool, value: float, target: str | None, needed: float | None
) -> None:
    step = next_step(measure("m", grading, higher_is_better=higher), value)
    if target is None:
        assert step is None
    else:
        assert step is not None
        assert (step.target, step.value_needed) == (target, pytest.approx(needed))
        assert step.change == pytest.approx(needed - value)


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        (model(), "groups"),
        (model(GroupDef("g", "G", ())), "groups[0].measures"),
        (model(GroupDef("g", "G", (measure("a"), measure("a")))), "groups[0].measures[1].key"),
        (model(GroupDef("g", "G", (measure("a", weight=0),))), "groups[0].measures[0].weight"),
        (model(GroupDef("g", "G", (measure("a"),), weight=-1)), "groups[0].weight"),
        (model(GroupDef("g", "G", (measure("a", Grading("thresholds", good=1, normal=5)),))),
         "groups[0].measures[0].grading"),
        (model(GroupDef("g", "G", (measure("a", Grading("breakpoints", cuts=(1, 2))),))),
         "groups[0].measures[0].grading"),
        (model(GroupDef("g", "G", (measure("a", Grading("linear", low=5, high=5)),))),
         "groups[0].measures[0].grading"),
        (model(GroupDef("g", "G", (measure("a"),)), band_good=30, band_normal=40), "band_good"),
    ],
)
def test_invalid_models_name_the_field(definition: ModelDef, field: str) -> None:
    with pytest.raises(ModelError) as err:
        validate_model(definition)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("monthly", "label", "streak"),
    [
        ({"A": ["good", "good", "good"], "B": ["normal", "good", "normal"]}, "normal", ()),
        ({"A": ["good", "good", "bad"], "B": ["good", "good", "normal"]}, "1bad", ()),
        ({"A": ["good", "good", "bad"], "B": ["normal", "good", "bad"]}, "2bad", ()),
        ({"A": ["good", "normal", "good"], "B": ["bad", "bad", "bad"]}, "3bad", ("B",)),
        ({"A": ["bad"] * 3, "B": ["bad"] * 3, "C": ["bad"] * 3, "D": ["bad"] * 3}, "3bad",
         ("A", "B", "C", "D")),
        ({"A": ["bad", "bad"]}, "1bad", ()),
    ],
)
def test_key_feature_status(monthly, label: str, streak: tuple[str, ...]) -> None:
    status = key_feature_status(monthly)
    assert isinstance(status, KeyFeatureStatus)
    assert (status.label, status.bad_three_months) == (label, streak)


# -- properties ---------------------------------------------------------------------------------

gradings = st.one_of(
    st.tuples(st.floats(-100, 100), st.floats(0, 100)).map(
        lambda t: Grading("thresholds", good=t[0] + t[1], normal=t[0])
    ),
    st.lists(st.floats(-100, 100), min_size=4, max_size=4).map(
        lambda c: Grading("breakpoints", cuts=tuple(sorted(c)))
    ),
    st.tuples(st.floats(-100, 100), st.floats(0.01, 100)).map(
        lambda t: Grading("linear", low=t[0], high=t[0] + t[1])
    ),
)
measures = st.builds(
    lambda g, w, miss, mode_key: MeasureDef(
        key=mode_key, name=mode_key, grading=g, weight=w, missing=miss
    ),
    gradings, st.floats(0.1, 10), st.sampled_from(["bad", "exclude"]), st.just("m"),
)


@st.composite
def models_and_inputs(draw):  # type: ignore[no-untyped-def]
    group_count = draw(st.integers(1, 3))
    groups = []
    values = {}
    n = 0
    for gi in range(group_count):
        ms = []
        for _ in range(draw(st.integers(1, 3))):
            m = draw(measures)
            key = f"m{n}"
            n += 1
            ms.append(MeasureDef(key, key, m.grading, m.weight, True, m.missing))
            values[key] = draw(st.one_of(st.none(), st.floats(-200, 200)))
        groups.append(GroupDef(f"g{gi}", f"G{gi}", tuple(ms), draw(st.floats(0.1, 5)),
                               draw(st.sampled_from(["weighted", "worst"]))))
    scale = draw(st.sampled_from([100.0, 4.0]))
    return ModelDef(tuple(groups), scale_max=scale, band_good=0.7 * scale,
                    band_normal=0.4 * scale), values


@settings(max_examples=200, deadline=None)
@given(models_and_inputs())
def test_scores_are_bounded_and_contributions_add_up(case) -> None:  # type: ignore[no-untyped-def]
    definition, values = case
    validate_model(definition)
    result = score(definition, inputs(**values), as_of=AS_OF)
    if result.score is None:
        assert all(not x.included for x in result.measures)
        return
    assert 0 <= result.score <= definition.scale_max + 0.01
    assert round(sum(x.contribution for x in result.measures), 2) == result.score
    included = [x.weight for x in result.measures if x.included]
    live_groups = [g for g in result.groups if g.score is not None]
    assert sum(g.weight for g in live_groups) == pytest.approx(1, abs=1e-4)
    assert sum(included) == pytest.approx(1, abs=1e-4) or any(
        g.mode == "worst" for g in result.groups
    )


@settings(max_examples=200, deadline=None)
@given(models_and_inputs(), st.data())
def test_a_better_value_never_lowers_the_score(case, data) -> None:  # type: ignore[no-untyped-def]
    definition, values = case
    key = data.draw(st.sampled_from(sorted(values)))
    base = values[key] if values[key] is not None else 0.0
    better = dict(values, **{key: base + data.draw(st.floats(0, 100))})
    before = score(definition, inputs(**dict(values, **{key: base})), as_of=AS_OF).score
    after = score(definition, inputs(**better), as_of=AS_OF).score
    assert before is not None and after is not None
    # Rounding each contribution to 2 decimals can move the sum by a hair.
    assert after >= before - 0.01 * len(values)


@settings(max_examples=100, deadline=None)
@given(models_and_inputs())
def test_missing_data_follows_its_rule(case) -> None:  # type: ignore[no-untyped-def]
    definition, values = case
    result = score(definition, inputs(**values), as_of=AS_OF)
    rules = {m.key: m.missing for g in definition.groups for m in g.measures}
    for x in result.measures:
        if x.value is None:
            assert x.status == "missing"
            assert x.included == (rules[x.key] == "bad")
            assert x.contribution == 0
        else:
            assert x.included and not math.isnan(x.fraction or 0.0)
