"""Lifecycle stages from the three qualitative indicators (domain.md §1).

An account's stage is decided by how many of three indicators hold:

* **star user present** — a person at the account flagged by hand as a star user, or a tracked user
  active on at least ``star_user_active_days`` of the last ``star_user_window_days`` days;
* **champion motivated** — the champion's motivation (1–5) is at least ``motivated_at``: the CSM's
  latest rating when there is one, else derived from the champion's own activity and meeting
  attendance (``derive_champion_motivation``);
* **community attendance** — at least ``community_min_attendances`` community, webinar or event
  attendances by the account's people in the last ``community_window_days`` days.

The count maps to a stage through ``StageRules.by_count`` (default: 3 → Success, 2 → Growth,
1 → Rescue, 0 → Mogura). Every result lists each indicator with the value that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from app.scoring.tuning import numbers_from_json

Stage = Literal["success", "growth", "rescue", "mogura"]
STAGES: tuple[Stage, ...] = ("success", "growth", "rescue", "mogura")
#: Higher is better: Success 3 … Mogura 0 (used to tell an improvement from a fall).
STAGE_RANK: dict[str, int] = {"success": 3, "growth": 2, "rescue": 1, "mogura": 0}
INDICATORS = ("star_user", "champion", "community")


@dataclass(frozen=True)
class StageRules:
    """Tunable numbers of the stage rules, with the domain's defaults."""

    # A user active on 12 of the last 30 days is a star user; 11 days is not.
    star_user_active_days: int = 12
    star_user_window_days: int = 30
    # Motivation 4 or 5 (of 5) counts as a motivated champion; 3 does not.
    motivated_at: int = 4
    # One attendance (community, webinar or event) in the last 90 days is enough.
    community_min_attendances: int = 1
    community_window_days: int = 90
    # Derived motivation: 1, +1 for ≥ 4 active days in 30, +1 for ≥ 12, +1 per meeting attended in
    # 90 days up to 2 — a champion active 12 days who came to one meeting → 1 + 2 + 1 = 4.
    champion_active_days_low: int = 4
    champion_active_days_high: int = 12
    champion_meetings_cap: int = 2
    #: Indicators met → stage (all three → Success, two → Growth, one → Rescue, none → Mogura).
    by_count: tuple[Stage, Stage, Stage, Stage] = ("mogura", "rescue", "growth", "success")

    def to_json(self) -> dict[str, Any]:
        return {
            "star_user_active_days": self.star_user_active_days,
            "star_user_window_days": self.star_user_window_days,
            "motivated_at": self.motivated_at,
            "community_min_attendances": self.community_min_attendances,
            "community_window_days": self.community_window_days,
            "champion_active_days_low": self.champion_active_days_low,
            "champion_active_days_high": self.champion_active_days_high,
            "champion_meetings_cap": self.champion_meetings_cap,
            "by_count": list(self.by_count),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageRules:
        """Rules from their JSON form; unknown keys or bad values raise ValueError."""
        rules = numbers_from_json(cls(), data, what="stage rule(s)", skip=frozenset({"by_count"}))
        if "by_count" in data:
            value = data["by_count"]
            if (not isinstance(value, list | tuple) or len(value) != 4
                    or any(v not in STAGES for v in value)):
                raise ValueError("by_count must list 4 stages, for 0, 1, 2 and 3 indicators met")
            rules = replace(rules, by_count=tuple(value))
        if not 1 <= rules.motivated_at <= 5:
            raise ValueError("motivated_at must be between 1 and 5")
        if rules.star_user_window_days < 1 or rules.community_window_days < 1:
            raise ValueError("windows must be at least one day")
        return rules


@dataclass(frozen=True)
class StageInputs:
    """What the indicators are decided from, for one account on one day."""

    star_user_flagged: bool = False  # a contact marked as a star user by hand
    top_user_active_days: int = 0  # the most active tracked user's active days in the window
    has_champion: bool = False
    champion_rating: int | None = None  # the CSM's latest 1–5 rating, if any
    champion_active_days: int = 0  # the champion's own active days in the last 30
    champion_meetings: int = 0  # meetings the champion attended in the last 90 days
    community_attendances: int = 0  # attendances in the community window


@dataclass(frozen=True)
class Indicator:
    key: str  # star_user | champion | community
    met: bool
    value: int | None
    threshold: int
    source: str  # "flagged", "usage", "csm", "derived", "none", "attendance"


@dataclass(frozen=True)
class StageResult:
    stage: Stage
    met: int
    indicators: tuple[Indicator, ...]
    champion_motivation: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "met": self.met,
            "champion_motivation": self.champion_motivation,
            "indicators": [
                {"key": i.key, "met": i.met, "value": i.value, "threshold": i.threshold,
                 "source": i.source}
                for i in self.indicators
            ],
        }


def derive_champion_motivation(inputs: StageInputs, rules: StageRules = StageRules()) -> int | None:
    """The champion's motivation 1–5: the CSM's rating, else derived from activity; None: no champion."""
    if inputs.champion_rating is not None:
        return inputs.champion_rating
    if not inputs.has_champion:
        return None
    derived = 1
    derived += inputs.champion_active_days >= rules.champion_active_days_low
    derived += inputs.champion_active_days >= rules.champion_active_days_high
    derived += min(inputs.champion_meetings, rules.champion_meetings_cap)
    return min(derived, 5)


def assess_stage(inputs: StageInputs, rules: StageRules = StageRules()) -> StageResult:
    """The account's stage and the three indicators behind it."""
    if inputs.star_user_flagged:
        star = Indicator("star_user", True, inputs.top_user_active_days, rules.star_user_active_days,
                         "flagged")
    else:
        star = Indicator("star_user", inputs.top_user_active_days >= rules.star_user_active_days,
                         inputs.top_user_active_days, rules.star_user_active_days, "usage")

    motivation = derive_champion_motivation(inputs, rules)
    source = "csm" if inputs.champion_rating is not None else (
        "derived" if inputs.has_champion else "none")
    champion = Indicator("champion", motivation is not None and motivation >= rules.motivated_at,
                         motivation, rules.motivated_at, source)

    community = Indicator(
        "community", inputs.community_attendances >= rules.community_min_attendances,
        inputs.community_attendances, rules.community_min_attendances, "attendance",
    )
    indicators = (star, champion, community)
    met = sum(i.met for i in indicators)
    return StageResult(rules.by_count[met], met, indicators, motivation)


@dataclass(frozen=True)
class StageChange:
    """A stage transition to record (``previous`` None: the account's first stage)."""

    account_id: int
    previous: str | None
    stage: Stage


def transitions(
    current: dict[int, str], computed: dict[int, StageResult]
) -> list[StageChange]:
    """The accounts whose computed stage differs from their current one, in account order."""
    return [
        StageChange(account_id, current.get(account_id), result.stage)
        for account_id, result in sorted(computed.items())
        if current.get(account_id) != result.stage
    ]

