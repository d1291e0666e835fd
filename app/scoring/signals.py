"""Risk and timing signals: each fires from plain facts about one account and carries those facts.

Signals (defaults in ``SignalRules``; domain.md §3, §5):

* ``onboarding_checkpoint`` — 90 days after contract start, the score is below the adoption line
  (1.5 on the 0–4 adoption preset, else the model's "normal" band cut); watched for 60 days.
* ``score_drop`` — the score fell by at least 15 % of the scale (15 points of 100, 0.6 of 4) below
  its highest value in the last 30 days.
* ``renewal_window`` — the renewal date is 3–6 months away: review the account with sales.
* ``no_meeting`` — no meeting for 90 days (or never, once the contract is 90 days old).
* ``champion_quiet`` — the champion used the product before but not in the last 30 days.
* ``champion_left`` — the account's champion contact was removed and no champion remains.
* ``nps_detractor`` — the latest NPS answer in the last 180 days is 0–6.
* ``goals_unverified`` — success-plan goals not verified for 90 days.
* ``usage_collapse`` — events in the last 14 days fell under half of the average 14 days of the
  8 weeks before (only when that baseline has at least 20 events).
* ``stale_data`` — no events for 7 days from an account that sent some in the 30 days before.
* ``disagreement`` — the health band, the CSM's sentiment and the commercial picture (renewal
  soon, seats shrinking or growing) point different ways: at least one says "well" and another
  "badly". Raised on its own; never averaged into the score.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from app.scoring.tuning import numbers_from_json

SignalKind = Literal[
    "onboarding_checkpoint", "score_drop", "renewal_window", "no_meeting", "champion_quiet",
    "champion_left", "nps_detractor", "goals_unverified", "usage_collapse", "stale_data",
    "disagreement",
]
SIGNAL_KINDS: tuple[str, ...] = (
    "onboarding_checkpoint", "score_drop", "renewal_window", "no_meeting", "champion_quiet",
    "champion_left", "nps_detractor", "goals_unverified", "usage_collapse", "stale_data",
    "disagreement",
)
Severity = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class SignalRules:
    """Tunable numbers of the signal detectors, with the domain's defaults."""

    # Day 90 after contract start opens the checkpoint; it stays open 60 days (day 90 … 149).
    onboarding_days: int = 90
    onboarding_watch_days: int = 60
    # 15 % of the scale: 80 → 65 on 0–100 fires (a 15-point drop); 80 → 66 does not.
    score_drop_share: float = 0.15
    score_drop_window_days: int = 30
    # Renewal 90 … 183 days away (3–6 months).
    renewal_min_days: int = 90
    renewal_max_days: int = 183
    no_meeting_days: int = 90
    champion_quiet_days: int = 30
    # Latest NPS answer of 6 or lower, given in the last 180 days.
    nps_detractor_max: int = 6
    nps_recent_days: int = 180
    goals_unverified_days: int = 90
    # 14-day events under 50 % of the 8-week average per 14 days; baseline ≥ 20 events.
    usage_collapse_ratio: float = 0.5
    usage_min_baseline: float = 20.0
    stale_days: int = 7
    # Sentiment 4–5 reads "well", 1–2 "badly"; seats down by ≥ 1 over 180 days reads "badly".
    sentiment_high: int = 4
    sentiment_low: int = 2

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignalRules:
        """Rules from their JSON form; unknown keys or bad values raise ValueError."""
        rules = numbers_from_json(cls(), data, what="signal rule(s)")
        if rules.renewal_min_days > rules.renewal_max_days:
            raise ValueError("renewal_min_days must not exceed renewal_max_days")
        return rules


@dataclass(frozen=True)
class SignalInputs:
    """Facts about one account as of one day (None: unknown or not applicable)."""

    as_of: dt.date
    contract_start_on: dt.date | None = None
    renewal_on: dt.date | None = None
    score: float | None = None
    band: str | None = None
    scale_max: float = 100.0
    adoption_line: float = 40.0
    score_peak_30d: float | None = None  # the highest score of the last 30 days
    last_meeting_on: dt.date | None = None
    has_champion: bool = False
    champion_last_active_on: dt.date | None = None
    champion_removed_on: dt.date | None = None  # a champion contact removed, none remaining
    latest_nps: int | None = None
    latest_nps_on: dt.date | None = None
    unverified_goals: int = 0  # open goals whose last verification is older than the limit
    events_recent: int = 0  # the last 14 days
    events_baseline: float = 0.0  # average per 14 days over the 56 days before them
    last_event_on: dt.date | None = None
    events_before_quiet: int = 0  # events in the 30 days before the stale window
    sentiment: int | None = None  # the CSM's current 1–5 rating
    seats_change: int | None = None  # licensed seats now minus 180 days ago


@dataclass(frozen=True)
class Signal:
    kind: str
    severity: Severity
    data: dict[str, Any]


def _days(a: dt.date, b: dt.date | None) -> int | None:
    return None if b is None else (a - b).days


def detect(inputs: SignalInputs, rules: SignalRules = SignalRules()) -> list[Signal]:
    """Every signal that fires for the account, each with the facts that fired it."""
    found: list[Signal] = []
    today = inputs.as_of
    tenure = _days(today, inputs.contract_start_on)

    if (tenure is not None and inputs.score is not None
            and rules.onboarding_days <= tenure < rules.onboarding_days + rules.onboarding_watch_days
            and inputs.score < inputs.adoption_line):
        found.append(Signal("onboarding_checkpoint", "high", {
            "tenure_days": tenure, "score": inputs.score, "line": inputs.adoption_line}))

    if inputs.score is not None and inputs.score_peak_30d is not None:
        drop = inputs.score_peak_30d - inputs.score
        limit = rules.score_drop_share * inputs.scale_max
        if drop >= limit - 1e-9:
            found.append(Signal("score_drop", "high", {
                "from": inputs.score_peak_30d, "to": inputs.score, "drop": round(drop, 2),
                "limit": round(limit, 2), "window_days": rules.score_drop_window_days}))

    to_renewal = None if inputs.renewal_on is None else (inputs.renewal_on - today).days
    renewal_soon = to_renewal is not None and rules.renewal_min_days <= to_renewal <= rules.renewal_max_days
    if renewal_soon:
        found.append(Signal("renewal_window", "medium", {
            "renewal_on": inputs.renewal_on.isoformat() if inputs.renewal_on else None,
            "days_to_renewal": to_renewal}))

    since_meeting = _days(today, inputs.last_meeting_on)
    if since_meeting is not None and since_meeting >= rules.no_meeting_days:
        found.append(Signal("no_meeting", "medium", {
            "last_meeting_on": inputs.last_meeting_on.isoformat() if inputs.last_meeting_on else None,
            "days": since_meeting, "limit": rules.no_meeting_days}))
    elif since_meeting is None and tenure is not None and tenure >= rules.no_meeting_days:
        found.append(Signal("no_meeting", "medium", {
            "last_meeting_on": None, "days": None, "tenure_days": tenure,
            "limit": rules.no_meeting_days}))

    quiet = _days(today, inputs.champion_last_active_on)
    if inputs.has_champion and quiet is not None and quiet >= rules.champion_quiet_days:
        found.append(Signal("champion_quiet", "medium", {
            "last_active_on": inputs.champion_last_active_on.isoformat()
            if inputs.champion_last_active_on else None,
            "days": quiet, "limit": rules.champion_quiet_days}))
    if not inputs.has_champion and inputs.champion_removed_on is not None:
        found.append(Signal("champion_left", "high", {
            "removed_on": inputs.champion_removed_on.isoformat()}))

    nps_age = _days(today, inputs.latest_nps_on)
    if (inputs.latest_nps is not None and nps_age is not None and nps_age <= rules.nps_recent_days
            and inputs.latest_nps <= rules.nps_detractor_max):
        found.append(Signal("nps_detractor", "high", {
            "score": inputs.latest_nps,
            "answered_on": inputs.latest_nps_on.isoformat() if inputs.latest_nps_on else None}))

    if inputs.unverified_goals > 0:
        found.append(Signal("goals_unverified", "low", {
            "goals": inputs.unverified_goals, "limit_days": rules.goals_unverified_days}))

    if (inputs.events_baseline >= rules.usage_min_baseline
            and inputs.events_recent < rules.usage_collapse_ratio * inputs.events_baseline):
        found.append(Signal("usage_collapse", "high", {
            "events_14d": inputs.events_recent, "baseline_14d": round(inputs.events_baseline, 1),
            "ratio": round(inputs.events_recent / inputs.events_baseline, 2)}))

    silent = _days(today, inputs.last_event_on)
    if silent is not None and silent >= rules.stale_days and inputs.events_before_quiet > 0:
        found.append(Signal("stale_data", "medium", {
            "last_event_on": inputs.last_event_on.isoformat() if inputs.last_event_on else None,
            "days": silent}))

    views = perspectives(inputs, rules)
    readings = {v for v in views.values() if v is not None}
    if "well" in readings and "badly" in readings:
        found.append(Signal("disagreement", "medium", {
            "views": views, "renewal_soon": renewal_soon, "seats_change": inputs.seats_change,
            "sentiment": inputs.sentiment, "band": inputs.band}))
    return found


def perspectives(inputs: SignalInputs, rules: SignalRules) -> dict[str, str | None]:
    """How the computed band, the CSM and the commercial picture each read the account.

    Each reads "well", "badly" or nothing (None): the band good/bad (normal takes no side), the
    sentiment high/low, seats growing/shrinking (renewal timing alone takes no side).
    """
    health = {"good": "well", "bad": "badly", "normal": None}.get(inputs.band or "")
    sentiment: str | None = None
    if inputs.sentiment is not None:
        if inputs.sentiment >= rules.sentiment_high:
            sentiment = "well"
        elif inputs.sentiment <= rules.sentiment_low:
            sentiment = "badly"
    commercial: str | None = None
    if inputs.seats_change is not None and inputs.seats_change < 0:
        commercial = "badly"
    elif inputs.seats_change is not None and inputs.seats_change > 0:
        commercial = "well"
    return {"health": health, "sentiment": sentiment, "commercial": commercial}
