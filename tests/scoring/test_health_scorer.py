"""The batch scorer: exactly ``score``'s result for every account, grading equal inputs once."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.health import (
    Grading,
    GroupDef,
    MeasureDef,
    MeasureInput,
    ModelDef,
    Scorer,
    score,
    validate_model,
)

AS_OF = dt.date(2026, 11, 23)

gradings = st.one_of(
    st.tuples(st.integers(-20, 20), st.integers(0, 20), st.booleans()).map(
        lambda t: Grading("thresholds", good=t[0] + t[1], normal=t[0]) if t[2]
        else Grading("thresholds", good=t[0] - t[1], normal=t[0])
    ),
    st.lists(st.integers(-20, 20), min_size=4, max_size=4).map(
        lambda c: Grading("breakpoints", cuts=tuple(sorted(c)))
    ),
    st.tuples(st.integers(-20, 20), st.integers(1, 20)).map(
        lambda t: Grading("linear", low=t[0], high=t[0] + t[1])
    ),
)
#: Few distinct values, so that accounts often share a group's inputs: ints and floats that are
#: equal (1 and 1.0), both zeros, and days-old data for the freshness rule.
values = st.one_of(
    st.none(), st.integers(-3, 25), st.sampled_from([0.0, -0.0, 1.0, 2.5, 7.25, 1e-9, -1e-9]),
)
data_ages = st.sampled_from([None, 0, 1, 3, 4, 30])


@st.composite
def models(draw):  # type: ignore[no-untyped-def]
    groups = []
    n = 0
    for gi in range(draw(st.integers(1, 3))):
        measures = []
        for _ in range(draw(st.integers(1, 3))):
            grading = draw(gradings)
            higher = not (grading.kind == "thresholds" and grading.good < grading.normal)  # type: ignore[operator]
            if grading.kind == "breakpoints" and not draw(st.booleans()):
                grading = Grading("breakpoints", cuts=tuple(sorted(grading.cuts, reverse=True)))
                higher = False
            measures.append(MeasureDef(
                f"m{n}", f"M{n}", grading, weight=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                higher_is_better=higher, missing=draw(st.sampled_from(["bad", "exclude"])),
                freshness_days=draw(st.sampled_from([None, 3, 7])),
            ))
            n += 1
        groups.append(GroupDef(f"g{gi}", f"G{gi}", tuple(measures),
                               draw(st.sampled_from([1.0, 2.0, 0.5])),
                               draw(st.sampled_from(["weighted", "worst"]))))
    scale = draw(st.sampled_from([100.0, 4.0]))
    model = ModelDef(tuple(groups), scale_max=scale, band_good=0.7 * scale,
                     band_normal=0.4 * scale)
    validate_model(model)
    return model


@st.composite
def books(draw):  # type: ignore[no-untyped-def]
    model = draw(models())
    keys = [m.key for g in model.groups for m in g.measures]
    accounts = []
    for _ in range(draw(st.integers(1, 12))):
        inputs = {}
        for key in keys:
            if draw(st.integers(0, 9)) == 0:
                continue  # absent: missing
            age = draw(data_ages)
            inputs[key] = MeasureInput(
                draw(values), None if age is None else AS_OF - dt.timedelta(days=age)
            )
        accounts.append(inputs)
    return model, accounts


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(books())
def test_the_scorer_gives_exactly_what_score_gives(book) -> None:  # type: ignore[no-untyped-def]
    model, accounts = book
    scorer = Scorer(model, as_of=AS_OF)

    for account in accounts + accounts:  # the second time round, every group comes from the memo
        expected = score(model, account, as_of=AS_OF)
        got = scorer.score(account)

        assert got == expected
        assert repr(got) == repr(expected)  # also 1 against 1.0, and -0.0 against 0.0


def test_equal_inputs_share_one_group_result() -> None:
    thresholds = Grading("thresholds", good=10, normal=5)
    model = ModelDef((
        GroupDef("a", "A", (MeasureDef("x", "X", thresholds), MeasureDef("y", "Y", thresholds))),
        GroupDef("b", "B", (MeasureDef("z", "Z", thresholds),)),
    ))
    scorer = Scorer(model, as_of=AS_OF)

    one = scorer.score({"x": MeasureInput(7.0), "y": MeasureInput(12.0), "z": MeasureInput(1.0)})
    two = scorer.score({"x": MeasureInput(7.0), "y": MeasureInput(12.0), "z": MeasureInput(9.0)})
    three = scorer.score({"x": MeasureInput(7), "y": MeasureInput(12.0), "z": MeasureInput(9.0)})

    assert one.groups[0] is two.groups[0]
    assert one.groups[1] is not two.groups[1]
    assert three.groups[0] is not two.groups[0]  # 7 is not 7.0 in what gets stored
    assert (one.score, two.score) == (score(model, {"x": MeasureInput(7.0), "y": MeasureInput(12.0),
                                                    "z": MeasureInput(1.0)}, as_of=AS_OF).score,
                                      two.score)
