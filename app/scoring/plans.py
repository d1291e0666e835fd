"""Success-plan goals: when a goal's target is reached, and how far along the goal is.

A quantitative goal moves a metric from its **baseline** (0 when not given) to its **target**.
The two give its direction: a target below the baseline aims down (fewer support tickets:
baseline 40, target 10), any other target aims up (weekly active users: baseline 10, target 50),
including a target equal to the baseline ("keep it at 50").
"""

from __future__ import annotations


def _start(baseline: float | None) -> float:
    return baseline if baseline is not None else 0.0


def aims_down(*, baseline: float | None, target: float) -> bool:
    """Whether the goal is to bring the metric down: its target is below its baseline."""
    return target < _start(baseline)


def reached(*, baseline: float | None, target: float | None, value: float) -> bool:
    """Whether ``value`` meets the target in the goal's direction: at or above it for a goal
    aiming up (target 50: 50 → reached, 49 → not), at or below it for one aiming down (baseline
    40, target 10: 10 → reached, 11 → not). No target, never reached."""
    if target is None:
        return False
    if aims_down(baseline=baseline, target=target):
        return value <= target
    return value >= target


def goal_progress(
    *,
    status: str,
    baseline: float | None,
    target: float | None,
    current: float | None,
    steps_done: int = 0,
    steps_total: int = 0,
) -> float | None:
    """How far along the goal is, from 0 (not started) to 1 (there), or None when unknown.

    - An achieved goal is at 1, whatever its numbers.
    - With a target and a current value: the share of the way from the baseline (0 when not
      given) to the target, ``(current - baseline) / (target - baseline)``, clamped to 0..1. It
      holds for both directions: baseline 10, target 50, current 30 → 0.5; baseline 40, target
      10, current 25 → 0.5; past the target → 1; the wrong way from the baseline → 0.
    - A target equal to the baseline leaves no way to go: 1 when the current value has reached
      the target (``reached``: at or above it), else 0 (target 50: current 50 or 60 → 1, 40 → 0).
    - Otherwise (a qualitative goal, or no current value yet): the share of its steps done (1 of
      3 → 1/3), or None without steps.
    """
    if status == "achieved":
        return 1.0
    if target is not None and current is not None:
        start = _start(baseline)
        if target == start:
            return 1.0 if reached(baseline=baseline, target=target, value=current) else 0.0
        return min(max((current - start) / (target - start), 0.0), 1.0)
    if steps_total > 0:
        return steps_done / steps_total
    return None
