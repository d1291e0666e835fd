"""The JSON form of a health model (what the API takes and stores), and its pure counterpart.

A model is groups of measures. Each measure names where its raw value comes from (``source``),
the window it looks at, how it is graded, its weight and what to do when data is missing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models import INTERACTION_TYPES
from app.scoring.health import DEFAULT_BAND_GOOD, DEFAULT_BAND_NORMAL, Grading, GroupDef, MeasureDef, ModelDef

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
InteractionType = Literal[
    "meeting", "call", "email_sent", "email_reply", "support_ticket", "webinar", "event",
    "community", "community_post", "nps_response", "email_click", "meeting_scheduled",
    "training", "certification", "note",
]
assert set(InteractionType.__args__) == set(INTERACTION_TYPES)  # type: ignore[attr-defined]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsageSource(_Spec):
    """Product usage from the daily rollups, over the measure's window.

    ``events`` (names or patterns) and ``features`` (catalog keys) narrow the events counted;
    neither means all events. Metrics: ``events`` (count), ``active_users`` (distinct users),
    ``active_days``, ``key_features_used`` (distinct key features with any use),
    ``seat_activation`` (distinct active users ÷ licensed seats). ``per_seat`` divides by
    licensed seats.
    """

    type: Literal["usage"] = "usage"
    metric: Literal["events", "active_users", "active_days", "key_features_used", "seat_activation"]
    events: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = []
    features: list[Key] = []
    per_seat: bool = False


class InteractionSource(_Spec):
    """Interactions of the given types: ``count`` in the window, ``days_since_last`` (ever,
    up to the scoring date), or ``latest_nps`` (the newest NPS score in the window)."""

    type: Literal["interactions"] = "interactions"
    metric: Literal["count", "days_since_last", "latest_nps"]
    types: list[InteractionType] = []


class AttributeSource(_Spec):
    """A fact about the account or its people (1/0 for the ``has_`` attributes)."""

    type: Literal["attribute"] = "attribute"
    attribute: Literal[
        "licensed_seats", "arr", "tenure_days", "contacts", "has_star_user", "has_champion",
        "has_decision_maker",
    ]


class TrendSource(_Spec):
    """Relative change of a usage value against the window before: (now − before) ÷ before
    (+0.25 is 25% up). Before = 0 and now > 0 counts as +1."""

    type: Literal["trend"] = "trend"
    of: UsageSource


class SentimentSource(_Spec):
    """The CSM's latest manual rating (1–5), ignored once older than ``expires_days`` or after
    the account changed owner."""

    type: Literal["sentiment"] = "sentiment"
    expires_days: int = Field(default=90, ge=1, le=730)


class CertificationSource(_Spec):
    """Customer users certified (``certification`` interactions linked to the account's active
    contacts), each counted once at their best level — 1 is the highest: ``certified_users``
    (how many), or ``certification_rate`` (how many ÷ licensed seats). ``max_level`` counts only
    those at that level or better (``max_level: 2`` → levels 1 and 2); a certification recorded
    without a level counts only when ``max_level`` is not set."""

    type: Literal["certification"] = "certification"
    metric: Literal["certified_users", "certification_rate"]
    max_level: int | None = Field(default=None, ge=1, le=5)


Source = Annotated[
    UsageSource | InteractionSource | AttributeSource | TrendSource | SentimentSource
    | CertificationSource,
    Field(discriminator="type"),
]


class GradingSpec(_Spec):
    kind: Literal["thresholds", "breakpoints", "linear"]
    good: float | None = None
    normal: float | None = None
    cuts: list[float] = []
    low: float | None = None
    high: float | None = None


class MeasureSpec(_Spec):
    key: Key
    name: Name
    source: Source
    grading: GradingSpec
    window_days: int = Field(default=30, ge=1, le=730)
    weight: float = Field(default=1.0, gt=0, le=1000)
    higher_is_better: bool = True
    missing: Literal["bad", "exclude"] = "exclude"
    freshness_days: int | None = Field(default=None, ge=1, le=365)


class GroupSpec(_Spec):
    key: Key
    name: Name
    weight: float = Field(default=1.0, gt=0, le=1000)
    mode: Literal["weighted", "worst"] = "weighted"
    measures: list[MeasureSpec] = Field(min_length=1, max_length=60)


class ModelSpec(_Spec):
    scale_max: float = Field(default=100.0, gt=0, le=1000)
    band_good: float = DEFAULT_BAND_GOOD
    band_normal: float = DEFAULT_BAND_NORMAL
    #: Also grade each usage measure over the two previous 30-day windows and report the
    #: key-feature status [normal]/[1bad]/[2bad]/[3bad] (domain.md §5).
    key_feature_status: bool = False
    groups: list[GroupSpec] = Field(min_length=1, max_length=20)

    def measures(self) -> list[MeasureSpec]:
        return [m for g in self.groups for m in g.measures]


def to_model_def(spec: ModelSpec) -> ModelDef:
    """The pure model the scoring core grades with."""
    return ModelDef(
        groups=tuple(
            GroupDef(
                key=g.key, name=g.name, weight=g.weight, mode=g.mode,
                measures=tuple(
                    MeasureDef(
                        key=m.key, name=m.name, weight=m.weight,
                        higher_is_better=m.higher_is_better, missing=m.missing,
                        freshness_days=m.freshness_days,
                        grading=Grading(
                            kind=m.grading.kind, good=m.grading.good, normal=m.grading.normal,
                            cuts=tuple(m.grading.cuts), low=m.grading.low, high=m.grading.high,
                        ),
                    )
                    for m in g.measures
                ),
            )
            for g in spec.groups
        ),
        scale_max=spec.scale_max,
        band_good=spec.band_good,
        band_normal=spec.band_normal,
    )
