"""The feature catalog: which events mean which product feature, and which features are key."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from app.accounts.service import get_account
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.models import Feature, UsageDaily
from app.scoring.catalog import Catalog, FeatureRule

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class FeatureIn:
    key: str
    name: str
    patterns: list[str]
    is_key: bool = False
    description: str | None = None


@dataclass
class FeatureUsage:
    key: str | None  # None: events mapped to no feature
    name: str
    is_key: bool
    event_count: int = 0
    active_days: int = 0
    max_daily_users: int = 0
    events: dict[str, int] = field(default_factory=dict)


def _validate(feature_in: FeatureIn) -> None:
    errors = []
    if not _KEY.match(feature_in.key):
        errors.append(FieldError("key", "lowercase letters, digits, '_', '.', '-' (max 100)"))
    if not feature_in.name.strip():
        errors.append(FieldError("name", "must not be empty"))
    if not feature_in.patterns:
        errors.append(FieldError("patterns", "list at least one event name or pattern"))
    for i, pattern in enumerate(feature_in.patterns):
        if not pattern.strip() or len(pattern) > 255:
            errors.append(FieldError(f"patterns[{i}]", "must be 1 to 255 characters"))
    if errors:
        raise InvalidInput(errors)


def list_features(session: Session) -> list[Feature]:
    """The catalog in order (the order decides which pattern wins)."""
    return list(session.exec(select(Feature).order_by(col(Feature.id))).all())


def get_feature(session: Session, key: str) -> Feature:
    feature = session.exec(select(Feature).where(Feature.key == key)).first()
    if feature is None:
        raise NotFound(f"no feature {key!r}")
    return feature


def create_feature(session: Session, *, feature_in: FeatureIn, now: dt.datetime) -> Feature:
    """Add a feature to the catalog; 409 if its key exists."""
    _validate(feature_in)
    if session.exec(select(Feature).where(Feature.key == feature_in.key)).first():
        raise Conflict(f"a feature {feature_in.key!r} already exists")
    feature = Feature(
        key=feature_in.key, name=feature_in.name.strip(), description=feature_in.description,
        is_key=feature_in.is_key, patterns=[p.strip() for p in feature_in.patterns],
        created_at=now, updated_at=now,
    )
    session.add(feature)
    session.flush()
    return feature


def update_feature(
    session: Session, *, key: str, changes: dict[str, Any], now: dt.datetime
) -> Feature:
    """Change a feature's name, description, patterns or key flag."""
    feature = get_feature(session, key)
    merged = FeatureIn(
        key=feature.key,
        name=str(changes["name"]) if changes.get("name") is not None else feature.name,
        patterns=changes["patterns"] if changes.get("patterns") is not None else feature.patterns,
        is_key=changes["is_key"] if changes.get("is_key") is not None else feature.is_key,
        description=changes.get("description", feature.description),
    )
    _validate(merged)
    feature.name = merged.name.strip()
    feature.patterns = [p.strip() for p in merged.patterns]
    feature.is_key = merged.is_key
    feature.description = merged.description
    feature.updated_at = now
    session.add(feature)
    session.flush()
    return feature


def delete_feature(session: Session, *, key: str) -> None:
    session.delete(get_feature(session, key))


def replace_catalog(session: Session, *, features: list[FeatureIn], now: dt.datetime) -> int:
    """Replace the whole catalog (import); all-or-nothing."""
    keys = [f.key for f in features]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise InvalidInput.field("features", f"duplicate keys: {', '.join(sorted(duplicates))}")
    for feature in list_features(session):
        session.delete(feature)
    session.flush()
    for feature_in in features:
        create_feature(session, feature_in=feature_in, now=now)
    return len(features)


def catalog(session: Session) -> Catalog:
    """The catalog as a pure matcher."""
    return Catalog(
        FeatureRule(f.key, tuple(f.patterns), f.is_key) for f in list_features(session)
    )


def account_feature_usage(
    session: Session, *, account_id: str, start: dt.date, end: dt.date
) -> list[FeatureUsage]:
    """Per feature (key features first, unused ones included) and unmapped: use in the range."""
    if start > end:
        raise InvalidInput.field("from", "must not be after `to`", "query")
    account = get_account(session, account_id)
    features = list_features(session)
    matcher = catalog(session)
    usage: dict[str | None, FeatureUsage] = {
        f.key: FeatureUsage(f.key, f.name, f.is_key) for f in features
    }
    usage[None] = FeatureUsage(None, "(unmapped)", False)
    days: dict[str | None, set[dt.date]] = {k: set() for k in usage}
    daily_users: dict[tuple[str | None, dt.date], int] = {}
    rows = session.exec(
        select(UsageDaily).where(
            UsageDaily.account_id == account.id,
            col(UsageDaily.day) >= start, col(UsageDaily.day) <= end,
        )
    ).all()
    for row in rows:
        key = matcher.feature_of(row.event)
        item = usage[key]
        item.event_count += row.event_count
        item.events[row.event] = item.events.get(row.event, 0) + row.event_count
        days[key].add(row.day)
        # Distinct users of a feature on a day are at least those of its busiest event.
        daily_users[(key, row.day)] = max(daily_users.get((key, row.day), 0), row.distinct_users)
    for key, item in usage.items():
        item.active_days = len(days[key])
        item.max_daily_users = max(
            (n for (k, _), n in daily_users.items() if k == key), default=0
        )
    ordered = sorted(
        (u for k, u in usage.items() if k is not None), key=lambda u: (not u.is_key, u.key or "")
    )
    if usage[None].event_count:
        ordered.append(usage[None])
    return ordered
