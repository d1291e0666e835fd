"""Reading health scores: an account's current score with its explanation and changes, its
daily history, and every account's latest stored score.

A stored score's explanation is rebuilt from its version's definition and the stored values
(``stored_explanation``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from app.accounts.service import get_account
from app.db import table_of
from app.errors import InvalidInput, NotFound
from app.health import assignments
from app.health.models import default_model, get_model, published_version, version_spec, versions
from app.health.scores import explain_values, score_accounts
from app.models import Account, HealthModel, HealthModelVersion, ScoreSnapshot, User

SNAPSHOT = table_of(ScoreSnapshot)


@dataclass(frozen=True)
class Current:
    account: Account
    model: HealthModel
    version: HealthModelVersion
    day: dt.date
    score: float | None
    band: str | None
    status: str | None
    groups: list[dict[str, Any]]
    change_week: float | None
    change_month: float | None
    scale_max: float
    live: bool  # computed now because no snapshot existed yet


def _model_or_default(session: Session, model_id: int | None) -> HealthModel:
    if model_id is not None:
        return get_model(session, model_id)
    model = default_model(session)
    if model is None:
        raise NotFound("no health model exists yet: adopt a preset (POST /api/v1/health-models)")
    return model


def _snapshot_on_or_before(
    session: Session, account_id: int, model_id: int, day: dt.date
) -> ScoreSnapshot | None:
    version_ids = select(HealthModelVersion.id).where(HealthModelVersion.model_id == model_id)  # type: ignore[call-overload]
    return session.execute(
        select(ScoreSnapshot)
        .where(
            ScoreSnapshot.account_id == account_id,  # type: ignore[arg-type]
            col(ScoreSnapshot.model_version_id).in_(version_ids),
            col(ScoreSnapshot.day) <= day,
        )
        .order_by(col(ScoreSnapshot.day).desc(), col(ScoreSnapshot.model_version_id).desc())
        .limit(1)
    ).scalar_one_or_none()


def current_health(
    session: Session, *, account_id: str, model_id: int | None, today: dt.date, tz: ZoneInfo
) -> Current:
    """The account's latest score with its explanation and its change over a week and a month,
    under the given model or else the account's primary model."""
    account = get_account(session, account_id)
    assert account.id is not None
    model = assignments.model_or_primary(session, account_id=account.id, model_id=model_id)
    version = published_version(session, model.id or 0)
    if version is None:
        raise NotFound(f"health model {model.name!r} has no published version")
    spec = version_spec(version)
    assert account.id is not None and model.id is not None
    snapshot = _snapshot_on_or_before(session, account.id, model.id, today)
    live = snapshot is None or snapshot.model_version_id != version.id
    if live:
        scored = score_accounts(
            session, spec=spec, as_of=today, tz=tz, account_ids=[account.id], include_churned=True
        )
        if not scored:
            raise NotFound(f"account {account_id!r} cannot be scored (contract not started)")
        s = scored[0]
        day, value, status, groups = today, s.score, s.status, s.explanation
        band_: str | None = s.band
    else:
        assert snapshot is not None
        day, value, status = snapshot.day, snapshot.score, snapshot.status
        groups = explain_values(spec, snapshot.measure_values, snapshot.stale_mask, day=snapshot.day)
        band_ = snapshot.band

    week = _snapshot_on_or_before(session, account.id, model.id, day - dt.timedelta(days=7))
    month = _snapshot_on_or_before(session, account.id, model.id, day - dt.timedelta(days=30))

    def change(past: ScoreSnapshot | None) -> float | None:
        if past is None or past.score is None or value is None:
            return None
        return round(value - past.score, 2)

    groups = _with_measure_changes(
        groups, stored_explanation(session, week), stored_explanation(session, month)
    )
    return Current(
        account,
        model,
        version,
        day,
        value,
        band_,
        status,
        groups,
        change(week),
        change(month),
        spec.scale_max,
        live,
    )


def stored_explanation(session: Session, snapshot: ScoreSnapshot | None) -> list[dict[str, Any]] | None:
    """A stored score's explanation, rebuilt from its version's definition and its values."""
    if snapshot is None:
        return None
    version = session.get(HealthModelVersion, snapshot.model_version_id)
    assert version is not None  # snapshots go with their version
    return explain_values(
        version_spec(version), snapshot.measure_values, snapshot.stale_mask, day=snapshot.day
    )


def _with_measure_changes(
    groups: list[dict[str, Any]],
    week: list[dict[str, Any]] | None,
    month: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Each measure's value and contribution change against a week and a month before."""

    def index(explanation: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        if explanation is None:
            return {}
        return {m["key"]: m for g in explanation for m in g.get("measures", [])}

    before = {"7d": index(week), "30d": index(month)}

    def delta(now: Any, then: Any) -> float | None:
        if not isinstance(now, int | float) or not isinstance(then, int | float):
            return None
        return round(now - then, 4)

    out = []
    for group in groups:
        measures = []
        for m in group["measures"]:
            m = dict(m)
            for label, old in before.items():
                past = old.get(m["key"], {})
                m[f"value_change_{label}"] = delta(m.get("value"), past.get("value"))
                m[f"contribution_change_{label}"] = delta(m.get("contribution"), past.get("contribution"))
            measures.append(m)
        out.append({**group, "measures": measures})
    return out


@dataclass(frozen=True)
class HistoryPoint:
    day: dt.date
    score: float | None
    band: str | None
    status: str | None
    version: int


def health_history(
    session: Session, *, account_id: str, model_id: int | None, start: dt.date, end: dt.date
) -> tuple[HealthModel, list[HistoryPoint], list[HealthModelVersion]]:
    """Daily scores in the range under the given model or the account's primary model (one per
    day, the newest version's if a day has several), and the model's versions so the chart can
    mark when a new formula was published."""
    if start > end:
        raise InvalidInput.field("from", "must not be after `to`", "query")
    account = get_account(session, account_id)
    assert account.id is not None
    model = assignments.model_or_primary(session, account_id=account.id, model_id=model_id)
    all_versions = versions(session, model.id or 0)
    numbers = {v.id: v.version for v in all_versions}
    rows = (
        session.execute(
            select(ScoreSnapshot)
            .where(
                ScoreSnapshot.account_id == account.id,  # type: ignore[arg-type]
                col(ScoreSnapshot.model_version_id).in_(list(numbers)),
                col(ScoreSnapshot.day) >= start,
                col(ScoreSnapshot.day) <= end,
            )
            .order_by(col(ScoreSnapshot.day), col(ScoreSnapshot.model_version_id))
        )
        .scalars()
        .all()
    )
    by_day: dict[dt.date, ScoreSnapshot] = {}
    for row in rows:
        by_day[row.day] = row  # later versions overwrite earlier ones on the same day
    points = [
        HistoryPoint(d, s.score, s.band, s.status, numbers[s.model_version_id])
        for d, s in sorted(by_day.items())
    ]
    marks = [v for v in all_versions if v.published_at is not None]
    return model, points, marks


@dataclass(frozen=True)
class BulkRow:
    account: Account
    owner: User | None
    snapshot: ScoreSnapshot
    #: The account's own model and version, when each account is read under its primary model.
    model: HealthModel | None = None
    version: HealthModelVersion | None = None


def latest_day(session: Session, version_id: int) -> dt.date | None:
    return session.execute(
        select(func.max(SNAPSHOT.c.day)).where(SNAPSHOT.c.model_version_id == version_id)
    ).scalar()


def bulk_health(
    session: Session,
    *,
    model_id: int | None,
    band: str | None,
    owner: str | None,
    limit: int,
    after_account: int | None,
) -> tuple[HealthModel, HealthModelVersion, dt.date | None, list[BulkRow]]:
    """Every account's latest stored score under the model's published version, by account;
    without a model, each account's under its primary model (the default's when no rules)."""
    model = _model_or_default(session, model_id)
    version = published_version(session, model.id or 0)
    if version is None or version.id is None:
        raise NotFound(f"health model {model.name!r} has no published version")
    day = latest_day(session, version.id)
    found = assignments.load(session)
    mixed = model_id is None and not found.single
    own: dict[int, tuple[HealthModel, HealthModelVersion, dt.date | None]] = {}
    if mixed:
        for m in found.model_ids:
            other = get_model(session, m)
            published = published_version(session, m)
            if published is not None and published.id is not None:
                own[m] = (other, published, latest_day(session, published.id))
    elif day is None:
        return model, version, None, []
    query = select(Account, User, ScoreSnapshot).join(
        User, col(User.id) == col(Account.owner_id), isouter=True
    )
    if mixed:
        query = query.add_columns(found.model_column()).join(
            ScoreSnapshot,
            and_(
                col(ScoreSnapshot.account_id) == col(Account.id),
                col(ScoreSnapshot.model_version_id)
                == found.per_account({m: v.id for m, (_, v, _) in own.items()}),
                col(ScoreSnapshot.day)
                == found.per_account({m: d or dt.date.min for m, (_, _, d) in own.items()}),
            ),
        )
    else:
        query = query.join(ScoreSnapshot, col(ScoreSnapshot.account_id) == col(Account.id)).where(
            ScoreSnapshot.model_version_id == version.id,  # type: ignore[arg-type]
            ScoreSnapshot.day == day,  # type: ignore[arg-type]
        )
    if band:
        query = query.where(ScoreSnapshot.band == band)  # type: ignore[arg-type]
    if owner == "none":
        query = query.where(col(Account.owner_id).is_(None))
    elif owner:
        query = query.where(User.email == owner.strip().lower())  # type: ignore[arg-type]
    if after_account is not None:
        query = query.where(col(Account.id) > after_account)
    rows = session.execute(query.order_by(col(Account.id)).limit(limit)).all()
    if not mixed:
        return model, version, day, [BulkRow(a, u, s) for a, u, s in rows]
    out = [BulkRow(a, u, s, own[m][0], own[m][1]) for a, u, s, m in rows]
    return model, version, day, out
