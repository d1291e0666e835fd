"""Scoring a whole book column by column, and rebuilding a stored score's explanation.

``score_book`` must give exactly ``score``'s score and band for every account, and a snapshot
row (the values in the model's order and the stale flags) must give back exactly the result the
scorer had when it was stored: the explanation served is rebuilt from it.
"""

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
    explain_group,
    measure_order,
    row_inputs,
    score,
    score_book,
    stale_flags,
)
from tests.scoring.test_health_scorer import models

AS_OF = dt.date(2026, 11, 23)
THRESHOLDS = Grading("thresholds", good=10, normal=5)

values = st.one_of(
    st.none(), st.integers(-3, 25).map(float),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 7.25, 1e-9, -1e-9, 0.333333]),
)
data_ages = st.sampled_from([None, 0, 1, 3, 4, 30])


@st.composite
def column_books(draw):  # type: ignore[no-untyped-def]
    """A model, per measure the date of its data, and a book of accounts' values by column."""
    model = draw(models())
    measures = measure_order(model)
    accounts = draw(st.integers(0, 15))
    ages = [draw(data_ages) for _ in measures]
    data_as_of = [None if age is None else AS_OF - dt.timedelta(days=age) for age in ages]
    columns = [[draw(values) for _ in range(accounts)] for _ in measures]
    return model, columns, data_as_of


def _inputs(model: ModelDef, columns, data_as_of, account: int) -> dict[str, MeasureInput]:  # type: ignore[no-untyped-def]
    return {
        m.key: MeasureInput(column[account], fresh)
        for m, column, fresh in zip(measure_order(model), columns, data_as_of, strict=True)
    }


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(column_books())
def test_the_book_scorer_gives_exactly_what_score_gives(book) -> None:  # type: ignore[no-untyped-def]
    model, columns, data_as_of = book

    got = score_book(model, columns, data_as_of, as_of=AS_OF)

    expected = []
    for account in range(len(columns[0])):
        result = score(model, _inputs(model, columns, data_as_of, account), as_of=AS_OF)
        expected.append((result.score, result.band))
    assert got == expected
    assert repr(got) == repr(expected)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(column_books())
def test_a_stored_row_rebuilds_the_same_result(book) -> None:  # type: ignore[no-untyped-def]
    """Values and stale flags are all a snapshot keeps: they score and explain exactly as the
    inputs they were stored from (values, the dates of their data, the day scored)."""
    model, columns, data_as_of = book
    flags = stale_flags(model, data_as_of, as_of=AS_OF)
    mask = sum(1 << i for i, flag in enumerate(flags) if flag)
    windows = {m.key: 30 for m in measure_order(model)}
    for account in range(len(columns[0])):
        original = score(model, _inputs(model, columns, data_as_of, account), as_of=AS_OF)
        row = [column[account] for column in columns]

        rebuilt = score(model, row_inputs(model, row, mask, as_of=AS_OF), as_of=AS_OF)

        assert rebuilt == original
        assert repr(rebuilt) == repr(original)
        assert [explain_group(g, windows) for g in rebuilt.groups] == [
            explain_group(g, windows) for g in original.groups
        ]


def test_stale_flags_follow_each_measures_freshness_limit() -> None:
    model = ModelDef((GroupDef("g", "G", (
        MeasureDef("fresh3", "F3", THRESHOLDS, freshness_days=3),
        MeasureDef("fresh7", "F7", THRESHOLDS, freshness_days=7),
        MeasureDef("never", "N", THRESHOLDS),
        MeasureDef("unknown", "U", THRESHOLDS, freshness_days=3),
    )),))
    four_days = AS_OF - dt.timedelta(days=4)

    assert stale_flags(model, [four_days, four_days, None, None], as_of=AS_OF) == (
        True, False, False, True,
    )


def test_a_large_book_with_few_grade_combinations() -> None:
    """10,000 accounts share a handful of grade combinations; each still gets its own score."""
    model = ModelDef((
        GroupDef("a", "A", (MeasureDef("x", "X", THRESHOLDS), MeasureDef("y", "Y", THRESHOLDS))),
        GroupDef("b", "B", (MeasureDef("z", "Z", THRESHOLDS, missing="bad"),)),
    ))
    n = 10_000
    columns: list[list[float | None]] = [
        [float(i % 13) for i in range(n)],
        [12.0 if i % 2 else None for i in range(n)],
        [float(i % 7) for i in range(n)],
    ]

    got = score_book(model, columns, [AS_OF] * 3, as_of=AS_OF)

    for i in (0, 1, 5, 6, 12, 9_999):
        inputs = {"x": MeasureInput(columns[0][i], AS_OF), "y": MeasureInput(columns[1][i], AS_OF),
                  "z": MeasureInput(columns[2][i], AS_OF)}
        result = score(model, inputs, as_of=AS_OF)
        assert got[i] == (result.score, result.band)
    # x 1 bad, y 12 good: A 50; z 1 bad: B 0 → 25.
    assert got[1] == (25.0, "bad")
    # x 5 normal, y 12 good: A 75; z 5 normal: B 50 → 12.5 + 25 + 25.
    assert got[5] == (62.5, "normal")
    # x 12 good, y missing (excluded): A 100; z 5 normal: B 50.
    assert got[12] == (75.0, "good")
    assert len(got) == n
