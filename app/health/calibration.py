"""Calibrating a health model from the book's own history, and validating a model out of time.

``calibrate_model`` proposes a draft version: thresholds chosen from churn rates, weights from a
regularised logistic regression, band cut-offs with churn rising from good to bad and at most a
set share of accounts in "bad", and flags on measures that carry no signal or point the wrong
way (``app.scoring.calibration``). For a key-feature model it also proposes which features are
key. It publishes nothing: the draft and its validation are stored for a person to read, compare
and publish. ``validate`` judges any definition by the same protocol (``app.health.samples``):
out of time, at 30, 60, 90 and 180 days side by side.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.errors import InvalidInput, NotFound
from app.health import models as health_models
from app.health.samples import HORIZONS, BookHistory, Protocol, protocol, reference_grid, scope
from app.health.spec import ModelSpec, UsageSource, to_model_def
from app.models import HealthCalibration, HealthModel
from app.scoring import calibration as calib
from app.scoring.health import ModelDef, grade_value, key_feature_status, measure_order
from app.scoring.presets import ADOPTION_LINE
from app.usage import features as features_svc

#: A churner counts as warned when it was in "bad" at its last reference date at least this many
#: days before its churn date.
EARLY_WARNING_DAYS = 60
#: Key features a calibrated key-feature model keeps (domain.md §5: two to four).
KEY_FEATURES = (2, 4)
MONTH_DAYS = 30


@dataclasses.dataclass(frozen=True)
class CalibrationParams:
    """What a calibration or validation was asked (stored with it)."""

    horizon_days: int = 90
    cadence_days: int = 14
    bad_share_max: float = 0.25
    start: dt.date | None = None
    end: dt.date | None = None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- the definition a proposal becomes -----------------------------------------------------------


def _grading_json(grading: Any) -> dict[str, Any]:
    if grading.kind == "thresholds":
        return {"kind": "thresholds", "good": grading.good, "normal": grading.normal}
    if grading.kind == "breakpoints":
        return {"kind": "breakpoints", "cuts": list(grading.cuts)}
    return {"kind": "linear", "low": grading.low, "high": grading.high}


def apply_model(definition: dict[str, Any], model: ModelDef) -> dict[str, Any]:
    """``definition`` with the gradings, weights and band cuts of ``model`` (same keys)."""
    out = {**definition, "band_good": model.band_good, "band_normal": model.band_normal}
    groups = {g.key: g for g in model.groups}
    new_groups = []
    for group in definition["groups"]:
        fitted = groups[group["key"]]
        measures = {m.key: m for m in fitted.measures}
        new_groups.append(
            {
                **group,
                "weight": fitted.weight,
                "measures": [
                    {
                        **m,
                        "weight": measures[m["key"]].weight,
                        "grading": _grading_json(measures[m["key"]].grading),
                    }
                    for m in group["measures"]
                ],
            }
        )
    out["groups"] = new_groups
    return out


# -- validation ------------------------------------------------------------------------------------


def _early_warning(model: ModelDef, samples: Sequence[calib.Sample], cadence_days: int) -> dict[str, Any]:
    """Churners in "bad" at their last reference date ≥ EARLY_WARNING_DAYS before churning,
    and the share of all samples of those dates in "bad"."""
    lead = [
        s
        for s in samples
        if s.churn_in_days is not None
        and EARLY_WARNING_DAYS <= s.churn_in_days < EARLY_WARNING_DAYS + cadence_days
    ]
    churners = len(lead)
    caught = sum(1 for (_, band) in calib.model_scores(model, lead) if band == "bad")
    bands = [band for _, band in calib.model_scores(model, samples)]
    scored = [b for b in bands if b is not None]
    return {
        "lead_days": EARLY_WARNING_DAYS,
        "churners": churners,
        "in_bad": caught,
        "share_caught": round(caught / churners, 4) if churners else None,
        "bad_share": round(scored.count("bad") / len(scored), 4) if scored else None,
    }


def _evaluation(
    model: ModelDef, history: BookHistory, proto: Protocol, settings: calib.Settings
) -> dict[str, Any] | None:
    """The model judged on the protocol's test dates, its probabilities mapped on the training
    dates (None when there is no test date)."""
    if not proto.test_dates:
        return None
    test = history.samples(proto.test_dates)
    train = history.samples(proto.train_dates)
    platt = None
    if (
        train
        and any(calib.churned(s, proto.horizon_days) for s in train)
        and not all(calib.churned(s, proto.horizon_days) for s in train)
    ):
        platt = calib.fit_platt(model, train, horizon_days=proto.horizon_days)
    evaluation = calib.evaluate(
        model, test, horizon_days=proto.horizon_days, probability=platt, settings=settings
    )
    return _jsonable(evaluation)


def _protocol_json(proto: Protocol) -> dict[str, Any]:
    return _jsonable(proto)


def _horizons(
    models: dict[str, ModelDef],
    history: BookHistory,
    grid: list[dt.date],
    *,
    cadence_days: int,
    today: dt.date,
    settings: calib.Settings,
) -> list[dict[str, Any]]:
    """Each model's out-of-time AUC, Brier and bands at every standard horizon."""
    out = []
    for horizon in HORIZONS:
        proto = protocol(
            grid,
            horizon_days=horizon,
            cadence_days=cadence_days,
            today=today,
            scoped=history.account_ids is not None,
        )
        row: dict[str, Any] = {
            "horizon_days": horizon,
            "test_dates": len(proto.test_dates),
            "train_dates": len(proto.train_dates),
        }
        for name, model in models.items():
            evaluation = _evaluation(model, history, proto, settings)
            row[name] = (
                None
                if evaluation is None
                else {
                    k: evaluation[k]
                    for k in (
                        "auc",
                        "auc_low",
                        "auc_high",
                        "brier",
                        "brier_base_rate",
                        "observations",
                        "churned",
                        "bands_in_order",
                    )
                }
                | {"bands": evaluation["bands"]}
            )
        out.append(row)
    return out


def _key_status(
    model: ModelDef, history: BookHistory, dates: Sequence[dt.date], horizon_days: int
) -> list[dict[str, Any]] | None:
    """[normal]/[1bad]/[2bad]/[3bad] at the given dates: share of accounts and churn rate
    (``history``: the book under the model's definition, whose dates it caches)."""
    if not history.spec.key_feature_status:
        return None
    measures = measure_order(model)
    counts: Counter[str] = Counter()
    churned: Counter[str] = Counter()
    for ref in dates:
        months = [ref - dt.timedelta(days=MONTH_DAYS * k) for k in (2, 1, 0)]
        by_month = [{s.account_id: s.values for s in history.samples([d])} for d in months]
        for sample in history.samples([ref]):
            monthly = {}
            for i, m in enumerate(measures):
                grades = []
                for month in by_month:
                    row = month.get(sample.account_id)
                    value = None if row is None else row[i]
                    if value is None:
                        grades.append("bad" if m.missing == "bad" else "normal")
                    else:
                        grades.append(grade_value(m, value)[2] or "normal")
                monthly[m.key] = grades
            label = key_feature_status(monthly).label  # type: ignore[arg-type]
            counts[label] += 1
            churned[label] += calib.churned(sample, horizon_days)
    total = sum(counts.values())
    return [
        {
            "status": label,
            "accounts": counts[label],
            "share": round(counts[label] / total, 4) if total else None,
            "churn_rate": round(churned[label] / counts[label], 4) if counts[label] else None,
        }
        for label in ("normal", "1bad", "2bad", "3bad")
    ]


# -- key features ----------------------------------------------------------------------------------


def _feature_spec(session: Session) -> tuple[ModelSpec, list[str]] | None:
    """A throwaway model with one measure per catalog feature: monthly use per licensed seat."""
    keys = [f.key for f in features_svc.list_features(session)]
    usable = [k for k in keys if len(k) <= 56 and k.replace("-", "_").replace(".", "_").isascii()]
    if len(usable) < KEY_FEATURES[0]:
        return None
    definition = {
        "groups": [
            {
                "key": "features",
                "name": "features",
                "measures": [
                    {
                        "key": f"f{i}",
                        "name": key,
                        "window_days": 30,
                        "source": {"type": "usage", "metric": "events", "features": [key], "per_seat": True},
                        "grading": {"kind": "thresholds", "good": 1, "normal": 0},
                    }
                    for i, key in enumerate(usable)
                ],
            }
        ],
    }
    return health_models.parse_definition(definition), usable


def _key_feature_definition(
    definition: dict[str, Any], choices: Sequence[calib.KeyFeatureChoice]
) -> dict[str, Any]:
    """``definition`` with its measures replaced by one per chosen key feature."""
    group = definition["groups"][0]
    template = group["measures"][0] if group["measures"] else {}
    measures = [
        {
            "key": f"feature_{c.key}".replace("-", "_")[:64],
            "name": c.key,
            "window_days": 30,
            "missing": template.get("missing", "bad"),
            "freshness_days": template.get("freshness_days", 3),
            "source": {"type": "usage", "metric": "events", "features": [c.key], "per_seat": True},
            "grading": {"kind": "thresholds", "good": c.good, "normal": c.normal},
        }
        for c in choices
    ]
    return {**definition, "groups": [{**group, "measures": measures}]}


# -- calibration -----------------------------------------------------------------------------------


def _settings(model: HealthModel, params: CalibrationParams) -> calib.Settings:
    return calib.Settings(
        bad_share_max=params.bad_share_max,
        keep_band_normal=model.preset == "adoption",
    )


def _base(
    session: Session, model_id: int, version: int | None
) -> tuple[HealthModel, int | None, dict[str, Any]]:
    model = health_models.get_model(session, model_id)
    found = (
        health_models.get_version(session, model_id, version)
        if version
        else health_models.published_version(session, model_id)
    )
    if found is None:
        raise InvalidInput.field("version", "the model has no published version; name one")
    return model, found.version, found.definition


def calibrate_model(
    session: Session,
    *,
    model_id: int,
    params: CalibrationParams,
    version: int | None,
    today: dt.date,
    tz: ZoneInfo,
    now: dt.datetime,
    actor: str,
) -> HealthCalibration:
    """Propose a calibrated draft of the model from the book's history and validate it against
    the version it starts from, out of time; stores and returns the calibration."""
    model, base_version, definition = _base(session, model_id, version)
    spec = health_models.parse_definition(definition)
    grid = reference_grid(
        session,
        today=today,
        cadence_days=params.cadence_days,
        shortest_horizon=min(HORIZONS),
        start=params.start,
        end=params.end,
    )
    accounts = scope(session, model_id)
    proto = protocol(
        grid,
        horizon_days=params.horizon_days,
        cadence_days=params.cadence_days,
        today=today,
        scoped=accounts is not None,
    )
    churners = 0
    history = BookHistory(session, spec, tz=tz, account_ids=accounts)
    if proto.train_dates:
        churners = sum(calib.churned(s, params.horizon_days) for s in history.samples(proto.train_dates))
    if len(proto.train_dates) < 3 or not proto.test_dates or churners < 5:
        raise InvalidInput.field(
            "horizon_days",
            "not enough history to calibrate: the book needs reference dates before and after "
            f"the test period and at least 5 churned accounts in the training dates ({churners} found)",
        )
    settings = _settings(model, params)
    before = to_model_def(spec)

    new_definition = definition
    key_features: dict[str, Any] | None = None
    if spec.key_feature_status:
        found = _feature_spec(session)
        if found is not None:
            feature_spec, feature_keys = found
            feature_history = BookHistory(session, feature_spec, tz=tz, account_ids=accounts)
            samples = feature_history.samples(proto.train_dates)
            columns = {key: [s.values[i] for s in samples] for i, key in enumerate(feature_keys)}
            choices = calib.propose_key_features(
                columns, samples, horizon_days=params.horizon_days, settings=settings
            )
            if len(choices) >= KEY_FEATURES[0]:
                new_definition = _key_feature_definition(definition, choices[: KEY_FEATURES[1]])
                key_features = {
                    "before": [
                        m.source.features[0]
                        for m in spec.measures()
                        if isinstance(m.source, UsageSource) and m.source.features
                    ],
                    "after": [_jsonable(c) for c in choices[: KEY_FEATURES[1]]],
                }
    new_spec = health_models.parse_definition(new_definition)
    new_history = (
        history
        if new_definition is definition
        else BookHistory(session, new_spec, tz=tz, account_ids=accounts)
    )
    start_model = to_model_def(new_spec)
    proposal = calib.calibrate(
        start_model,
        new_history.samples(proto.train_dates),
        horizon_days=params.horizon_days,
        settings=settings,
    )
    if new_definition is not definition:
        # Other key features only if they beat the current ones on accounts they were not
        # fitted on (the same folds by account), as any other change must.
        current = calib.calibrate(
            before, history.samples(proto.train_dates), horizon_days=params.horizon_days, settings=settings
        )
        if (current.inner_auc_after or 0.0) + calib.MIN_GAIN > (proposal.inner_auc_after or 0.0):
            new_definition, new_spec, new_history, proposal = definition, spec, history, current
            if key_features is not None:
                key_features["kept"] = True
    proposed_definition = apply_model(new_definition, proposal.model)
    health_models.parse_definition(proposed_definition)  # the proposal is a valid model

    # A kept model may still get new band cut-offs (bands out of order, too many in "bad").
    changed = (
        new_definition is not definition
        or to_model_def(health_models.parse_definition(proposed_definition)) != before
    )
    after = proposal.model
    report = {
        "protocol": _protocol_json(proto),
        "proposal": _jsonable(proposal) | {"model": None},
        "key_features": key_features,
        "before": _evaluation(before, history, proto, settings),
        "after": _evaluation(after, new_history, proto, settings),
        "baseline_auc": calib.logistic_baseline(
            before,
            history.samples(proto.train_dates),
            history.samples(proto.test_dates),
            horizon_days=params.horizon_days,
        ),
        "early_warning": {
            "before": _early_warning(before, history.samples(proto.test_dates), params.cadence_days),
            "after": _early_warning(after, new_history.samples(proto.test_dates), params.cadence_days),
        },
        "horizons": _merge_horizons(
            _horizons(
                {"before": before},
                history,
                grid,
                cadence_days=params.cadence_days,
                today=today,
                settings=settings,
            ),
            _horizons(
                {"after": after},
                new_history,
                grid,
                cadence_days=params.cadence_days,
                today=today,
                settings=settings,
            ),
        ),
        "key_feature_status": None
        if not spec.key_feature_status
        else {
            "before": _key_status(before, history, proto.test_dates, params.horizon_days),
            "after": _key_status(after, new_history, proto.test_dates, params.horizon_days),
        },
        "line": ADOPTION_LINE if model.preset == "adoption" else None,
    }
    draft_version = None
    if changed:
        draft = health_models.save_draft(session, model_id=model_id, definition=proposed_definition, now=now)
        draft_version = draft.version
    record = HealthCalibration(
        model_id=model_id,
        base_version=base_version,
        draft_version=draft_version,
        params=_jsonable(params),
        report=report,
        actor=actor,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _merge_horizons(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x | {"after": y["after"]} for x, y in zip(a, b, strict=True)]


def validate(
    session: Session,
    *,
    spec: ModelSpec,
    preset: str | None,
    grid: list[dt.date],
    horizon_days: int,
    cadence_days: int,
    bad_share_max: float,
    today: dt.date,
    tz: ZoneInfo,
    history: BookHistory | None = None,
) -> dict[str, Any]:
    """A definition judged by the protocol on ``grid``: out-of-time figures at the chosen
    horizon, the standard horizons side by side, early warning, the plain logistic regression's
    AUC as a yardstick and (key-feature models) the status."""
    model = to_model_def(spec)
    history = history or BookHistory(session, spec, tz=tz)
    proto = protocol(
        grid,
        horizon_days=horizon_days,
        cadence_days=cadence_days,
        today=today,
        scoped=history.account_ids is not None,
    )
    settings = calib.Settings(bad_share_max=bad_share_max, keep_band_normal=preset == "adoption")
    test = history.samples(proto.test_dates)
    train = history.samples(proto.train_dates)
    return {
        "protocol": _protocol_json(proto),
        "evaluation": _evaluation(model, history, proto, settings),
        "baseline_auc": calib.logistic_baseline(model, train, test, horizon_days=horizon_days)
        if train and test
        else None,
        "early_warning": _early_warning(model, test, cadence_days) if test else None,
        "horizons": _horizons(
            {"model": model}, history, grid, cadence_days=cadence_days, today=today, settings=settings
        ),
        "key_feature_status": _key_status(model, history, proto.test_dates, horizon_days),
        "line": ADOPTION_LINE if preset == "adoption" else None,
    }


def get_calibration(session: Session, *, model_id: int, calibration_id: int) -> HealthCalibration:
    found = session.get(HealthCalibration, calibration_id)
    if found is None or found.model_id != model_id:
        raise NotFound(f"health model {model_id} has no calibration {calibration_id}")
    return found


def list_calibrations(session: Session, *, model_id: int, limit: int = 20) -> list[HealthCalibration]:
    health_models.get_model(session, model_id)
    return list(
        session.exec(
            select(HealthCalibration)
            .where(HealthCalibration.model_id == model_id)
            .order_by(col(HealthCalibration.created_at).desc(), col(HealthCalibration.id).desc())
            .limit(limit)
        ).all()
    )


def latest_for_draft(session: Session, *, model_id: int, draft_version: int) -> HealthCalibration | None:
    return session.exec(
        select(HealthCalibration)
        .where(HealthCalibration.model_id == model_id, HealthCalibration.draft_version == draft_version)
        .order_by(col(HealthCalibration.id).desc())
        .limit(1)
    ).first()


__all__ = [
    "CalibrationParams",
    "apply_model",
    "calibrate_model",
    "get_calibration",
    "latest_for_draft",
    "list_calibrations",
    "validate",
]
