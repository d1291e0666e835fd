"""The health models Bansō ships, as plain definitions (the JSON form of ``ModelSpec``).

* **abc** (default) — bellFace's "ABC": Application (product use), Base (relationship and
  basics), Contents (engagement with content), three measures each (domain.md §1).
* **adoption** — Salesforce's adoption score: weighted measures on a 0–4 scale; 1.5 is the line
  between adopted and not (domain.md §3).
* **key_features** — kamui tracker's practice: 2–4 key features graded good / normal / bad per
  month over three months, giving [normal] [1bad] [2bad] [3bad] (domain.md §5).
* **minimal** — two or three measures: "start small, revise often" (domain.md §2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.scoring.health import DEFAULT_BAND_GOOD, DEFAULT_BAND_NORMAL

PRESETS = ("abc", "adoption", "key_features", "minimal")
#: The adoption line on the 0–4 scale: 1.49 → not adopted (bad), 1.50 → adopted.
ADOPTION_LINE = 1.5


def _t(good: float, normal: float) -> dict[str, Any]:
    return {"kind": "thresholds", "good": good, "normal": normal}


def _b(*cuts: float) -> dict[str, Any]:
    return {"kind": "breakpoints", "cuts": list(cuts)}


def _usage(metric: str, **kw: Any) -> dict[str, Any]:
    return {"type": "usage", "metric": metric, **kw}


def _interactions(metric: str, *types: str) -> dict[str, Any]:
    return {"type": "interactions", "metric": metric, "types": list(types)}


def abc() -> dict[str, Any]:
    return {
        "scale_max": 100, "band_good": DEFAULT_BAND_GOOD, "band_normal": DEFAULT_BAND_NORMAL,
        "groups": [
            {"key": "application", "name": "Application (利用)", "weight": 1, "measures": [
                # 60% of licensed seats active in 30 days is good, 30% normal.
                {"key": "seat_activation", "name": "License activation", "window_days": 30,
                 "source": _usage("seat_activation"), "grading": _t(0.6, 0.3),
                 "freshness_days": 3},
                {"key": "active_days", "name": "Active days (30d)", "window_days": 30,
                 "source": _usage("active_days"), "grading": _t(15, 8), "freshness_days": 3},
                {"key": "key_features", "name": "Key features used (30d)", "window_days": 30,
                 "source": _usage("key_features_used"), "grading": _t(3, 2),
                 "freshness_days": 3},
            ]},
            {"key": "base", "name": "Base (関係)", "weight": 1, "measures": [
                {"key": "last_meeting", "name": "Days since last meeting",
                 "source": _interactions("days_since_last", "meeting", "call"),
                 "grading": _t(45, 90), "higher_is_better": False, "missing": "bad"},
                {"key": "champion", "name": "Champion in place",
                 "source": {"type": "attribute", "attribute": "has_champion"},
                 "grading": _t(1, 1), "missing": "bad"},
                {"key": "nps", "name": "Latest NPS (12 months)", "window_days": 365,
                 "source": _interactions("latest_nps", "nps_response"), "grading": _t(9, 7)},
            ]},
            {"key": "contents", "name": "Contents (コンテンツ)", "weight": 1, "measures": [
                {"key": "webinars", "name": "Webinars and events (90d)", "window_days": 90,
                 "source": _interactions("count", "webinar", "event"), "grading": _t(2, 1)},
                {"key": "community", "name": "Community (90d)", "window_days": 90,
                 "source": _interactions("count", "community", "community_post"),
                 "grading": _t(2, 1)},
                {"key": "training", "name": "Training and certification (180d)",
                 "window_days": 180,
                 "source": _interactions("count", "training", "certification"),
                 "grading": _t(2, 1)},
            ]},
        ],
    }


def adoption() -> dict[str, Any]:
    return {
        "scale_max": 4, "band_good": 2.5, "band_normal": ADOPTION_LINE,
        "groups": [{"key": "adoption", "name": "Adoption", "weight": 1, "measures": [
            {"key": "seat_activation", "name": "License activation rate", "weight": 3,
             "source": _usage("seat_activation"), "grading": _b(0.2, 0.4, 0.6, 0.8),
             "freshness_days": 3},
            {"key": "login_days", "name": "Active days (30d)", "weight": 2,
             "source": _usage("active_days"), "grading": _b(4, 8, 12, 16), "freshness_days": 3},
            {"key": "events_per_seat", "name": "Actions per seat (30d)", "weight": 2,
             "source": _usage("events", per_seat=True), "grading": _b(1, 5, 10, 20),
             "freshness_days": 3},
            {"key": "key_features", "name": "Key features used (30d)", "weight": 2,
             "source": _usage("key_features_used"), "grading": _b(1, 2, 3, 4),
             "freshness_days": 3},
            {"key": "usage_trend", "name": "Usage trend vs previous 30d", "weight": 1,
             "source": {"type": "trend", "of": _usage("events")},
             "grading": _b(-0.5, -0.2, 0.0, 0.2), "freshness_days": 3},
        ]}],
    }


def key_features(feature_keys: Sequence[str]) -> dict[str, Any]:
    """One measure per key feature (2–4 of them): monthly use per licensed seat, graded
    good (≥ 2 actions per seat) / normal (≥ 0.5) / bad; no use at all is bad."""
    keys = list(feature_keys)[:4]
    if len(keys) < 2:
        raise ValueError("the key-features preset needs 2 to 4 key features in the catalog")
    return {
        "scale_max": 100, "band_good": DEFAULT_BAND_GOOD, "band_normal": DEFAULT_BAND_NORMAL,
        "key_feature_status": True,
        "groups": [{"key": "key_features", "name": "Key features", "weight": 1, "measures": [
            {"key": f"feature_{k}".replace("-", "_")[:64], "name": k, "window_days": 30,
             "source": _usage("events", features=[k], per_seat=True), "grading": _t(2, 0.5),
             "missing": "bad", "freshness_days": 3}
            for k in keys
        ]}],
    }


def minimal() -> dict[str, Any]:
    return {
        "scale_max": 100, "band_good": DEFAULT_BAND_GOOD, "band_normal": DEFAULT_BAND_NORMAL,
        "groups": [{"key": "core", "name": "Core", "weight": 1, "measures": [
            {"key": "seat_activation", "name": "License activation", "weight": 2,
             "source": _usage("seat_activation"), "grading": _t(0.6, 0.3), "freshness_days": 3},
            {"key": "last_meeting", "name": "Days since last meeting",
             "source": _interactions("days_since_last", "meeting", "call"),
             "grading": _t(45, 90), "higher_is_better": False, "missing": "bad"},
            {"key": "nps", "name": "Latest NPS (12 months)", "window_days": 365,
             "source": _interactions("latest_nps", "nps_response"), "grading": _t(9, 7)},
        ]}],
    }


def preset(name: str, *, key_feature_keys: Sequence[str] = ()) -> dict[str, Any]:
    """The definition of a shipped preset by name."""
    if name == "abc":
        return abc()
    if name == "adoption":
        return adoption()
    if name == "key_features":
        return key_features(key_feature_keys)
    if name == "minimal":
        return minimal()
    raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
