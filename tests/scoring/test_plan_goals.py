"""Success-plan goals: when a target is reached and how far along a goal is, by hand."""

from __future__ import annotations

import pytest

from app.scoring.plans import aims_down, goal_progress, reached


def progress(
    baseline: float | None,
    target: float | None,
    current: float | None,
    *,
    status: str = "on_track",
    steps: tuple[int, int] = (0, 0),
) -> float | None:
    return goal_progress(
        status=status,
        baseline=baseline,
        target=target,
        current=current,
        steps_done=steps[0],
        steps_total=steps[1],
    )


@pytest.mark.parametrize(
    ("baseline", "target", "current", "expected"),
    [
        (10, 50, 30, 0.5),  # up: halfway from the baseline to the target
        (10, 50, 10, 0.0),
        (10, 50, 50, 1.0),
        (10, 50, 80, 1.0),  # past the target: clamped
        (10, 50, 5, 0.0),  # below the baseline: clamped
        (None, 200, 80, 0.4),  # no baseline: from 0
        (40, 10, 25, 0.5),  # down: fewer support tickets
        (40, 10, 5, 1.0),
        (40, 10, 45, 0.0),
    ],
)
def test_share_of_the_way_from_baseline_to_target(
    baseline: float | None, target: float, current: float, expected: float
) -> None:
    assert progress(baseline, target, current) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (50, 50, 1.0),
        (50, 60, 1.0),
        (50, 49.5, 0.0),
        (None, 0, 1.0),
        (None, -1, 0.0),
    ],
)
def test_a_target_equal_to_the_baseline_is_there_once_reached(
    baseline: float | None, current: float, expected: float
) -> None:
    target = baseline if baseline is not None else 0
    assert progress(baseline, target, current) == expected


def test_achieved_is_complete_and_steps_stand_in_for_missing_numbers() -> None:
    assert progress(10, 50, 10, status="achieved") == 1.0
    assert progress(None, None, None, status="achieved") == 1.0
    assert progress(None, None, None, steps=(1, 3)) == pytest.approx(1 / 3)
    assert progress(0, 100, None, steps=(2, 2)) == 1.0  # no current value yet: the steps
    assert progress(0, 100, 25, steps=(2, 2)) == 0.25  # numbers first
    assert progress(None, None, None) is None
    assert progress(0, 100, None) is None


def test_reached_in_the_goal_direction() -> None:
    assert not aims_down(baseline=10, target=50) and not aims_down(baseline=50, target=50)
    assert aims_down(baseline=40, target=10) and aims_down(baseline=None, target=-5)
    assert reached(baseline=10, target=50, value=50) and not reached(baseline=10, target=50, value=49)
    assert reached(baseline=40, target=10, value=10) and not reached(baseline=40, target=10, value=11)
    assert reached(baseline=50, target=50, value=50) and not reached(baseline=50, target=50, value=49)
    assert not reached(baseline=10, target=None, value=1e9)
