"""Health scores (current, history, bulk) and health models (CRUD, publish, preview, backtest)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep, WriteKeyDep
from app.health import assignments as health_assignments
from app.health import backtest as backtest_svc
from app.health import calibration as calibration_svc
from app.health import models as health_models
from app.health import preview as health_preview
from app.health import reading as health_reading
from app.health import sentiment as health_sentiment
from app.health import snapshots as health_snapshots
from app.health.schemas import (
    AssignmentsIn,
    AssignmentsPublic,
    BacktestIn,
    BacktestPublic,
    BulkItem,
    BulkPage,
    CalibrateIn,
    CalibrationPublic,
    DraftIn,
    GroupPublic,
    HealthModelCreate,
    HealthModelPublic,
    HealthPreviewIn,
    HealthPreviewPublic,
    HealthPublic,
    HistoryPointPublic,
    HistoryPublic,
    ModelRef,
    PrimaryModelPublic,
    Scale,
    SentimentIn,
    SentimentPublic,
    VersionMark,
    VersionPublic,
)
from app.models import HealthCalibration, HealthModel, HealthModelVersion
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor, page_params
from app.types import DbId

router = APIRouter(tags=["health"], responses=ERRORS)


def _ref(model: HealthModel, version: HealthModelVersion) -> ModelRef:
    return ModelRef(id=model.id or 0, name=model.name, version=version.version)


def _model_public(session: Any, model: HealthModel) -> HealthModelPublic:
    all_versions = health_models.versions(session, model.id or 0)
    return HealthModelPublic(
        id=model.id or 0,
        name=model.name,
        description=model.description,
        preset=model.preset,
        is_default=model.is_default,
        published_version=next((v.version for v in all_versions if v.state == "published"), None),
        draft_version=next((v.version for v in all_versions if v.state == "draft"), None),
        versions=[VersionPublic.model_validate(v, from_attributes=True) for v in all_versions],
    )


# -- scores -------------------------------------------------------------------------------------


@router.get("/accounts/{account_id}/health", response_model=HealthPublic, responses=NOT_FOUND)
def account_health(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    model: Annotated[
        DbId | None, Query(description="Model id (default: the account's primary model)")
    ] = None,
) -> HealthPublic:
    """The current score with every measure's value, grade, weight and contribution."""
    current = health_reading.current_health(
        session,
        account_id=account_id,
        model_id=model,
        today=today,
        tz=settings.tz,
    )
    return HealthPublic(
        account_id=current.account.external_id,
        as_of=current.day,
        model=_ref(current.model, current.version),
        score=current.score,
        scale=Scale(max=current.scale_max),
        band=current.band,
        status=current.status,
        change_7d=current.change_week,
        change_30d=current.change_month,
        live=current.live,
        groups=[GroupPublic.model_validate(g) for g in current.groups],
    )


@router.get("/accounts/{account_id}/health/history", response_model=HistoryPublic, responses=NOT_FOUND)
def account_health_history(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    model: DbId | None = None,
) -> HistoryPublic:
    """Daily scores (default: the last 90 days) and the dates new model versions were published."""
    end = end or today
    start = start or end - dt.timedelta(days=89)
    found, points, marks = health_reading.health_history(
        session, account_id=account_id, model_id=model, start=start, end=end
    )
    published = health_models.published_version(session, found.id or 0)
    return HistoryPublic(
        account_id=account_id,
        model=ModelRef(id=found.id or 0, name=found.name, version=published.version if published else 0),
        data=[
            HistoryPointPublic(
                day=p.day, score=p.score, band=p.band, status=p.status, model_version=p.version
            )
            for p in points
        ],
        versions=[
            VersionMark(version=v.version, published_at=v.published_at) for v in marks if v.published_at
        ],
    )


@router.get("/health", response_model=BulkPage, responses=NOT_FOUND)
def bulk_health(
    session: SessionDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    band: Literal["good", "normal", "bad"] | None = None,
    owner: Annotated[str | None, Query(description="Owner's email, or `none`")] = None,
    model: DbId | None = None,
) -> BulkPage:
    """Every account's latest score (what other services poll), by account."""
    after = decode_cursor(page.cursor, sort="account").last_id if page.cursor else None
    found, version, day, rows = health_reading.bulk_health(
        session,
        model_id=model,
        band=band,
        owner=owner,
        limit=page.limit + 1,
        after_account=after,
    )
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1].account.id or 0
        next_cursor = encode_cursor(Cursor("account", last, last))
    return BulkPage(
        model=_ref(found, version),
        as_of=day,
        next_cursor=next_cursor,
        data=[
            BulkItem(
                account_id=r.account.external_id,
                name=r.account.name,
                owner=r.owner.email if r.owner else None,
                as_of=r.snapshot.day,
                score=r.snapshot.score,
                band=r.snapshot.band,
                status=r.snapshot.status,
                model=_ref(r.model, r.version) if r.model is not None and r.version is not None else None,
            )
            for r in rows
        ],
    )


@router.post(
    "/accounts/{account_id}/sentiment",
    status_code=status.HTTP_201_CREATED,
    response_model=SentimentPublic,
    responses={**NOT_FOUND, **BODY},
)
def rate_sentiment(
    account_id: str, rating_in: SentimentIn, session: SessionDep, now: NowDep, _key: WriteKeyDep
) -> SentimentPublic:
    """Record the CSM's own health rating (1–5) with a comment; it expires and resets with a new owner."""
    entry = health_sentiment.rate_sentiment(
        session,
        account_id=account_id,
        rating=rating_in.rating,
        comment=rating_in.comment,
        author_user_id=None,
        now=now,
    )
    return SentimentPublic.model_validate(entry, from_attributes=True)


# -- models per segment -------------------------------------------------------------------------


@router.get("/accounts/{account_id}/health-model", response_model=PrimaryModelPublic, responses=NOT_FOUND)
def account_health_model(account_id: str, session: SessionDep, _key: ReadKeyDep) -> PrimaryModelPublic:
    """The account's primary health model (its scores, checks and signals use it) and why: the
    assignment rule it matched first, or none (the default model)."""
    return health_assignments.account_primary(session, account_id)


@router.get("/health-model-assignments", response_model=AssignmentsPublic)
def list_assignments(session: SessionDep, _key: ReadKeyDep) -> AssignmentsPublic:
    """The ordered rules that give each account its primary health model, and the default model
    (of accounts no rule matches)."""
    return health_assignments.listing(session)


@router.put("/health-model-assignments", response_model=AssignmentsPublic, responses=BODY)
def replace_assignments(
    body: AssignmentsIn, session: SessionDep, now: NowDep, key: AdminKeyDep
) -> AssignmentsPublic:
    """Replace the whole ordered list; the first rule an account matches gives its primary model
    (an empty list puts every account on the default model)."""
    health_assignments.replace(
        session,
        [
            health_assignments.RuleIn(a.model_id, a.rule, values=a.values, key=a.key, amount=a.amount)
            for a in body.assignments
        ],
        actor=key.name,
        now=now,
    )
    return health_assignments.listing(session)


# -- models -------------------------------------------------------------------------------------


@router.get("/health-models", response_model=list[HealthModelPublic])
def list_models(session: SessionDep, _key: ReadKeyDep) -> list[HealthModelPublic]:
    """Every model with its versions."""
    return [_model_public(session, m) for m in health_models.list_models(session)]


@router.post(
    "/health-models",
    status_code=status.HTTP_201_CREATED,
    response_model=HealthModelPublic,
    responses={**CONFLICT, **BODY},
)
def create_model(
    model_in: HealthModelCreate, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> HealthModelPublic:
    """Adopt a preset (`{"preset": "abc"}`), or create a model from a definition (JSON import)."""
    model = health_models.create_or_adopt(
        session,
        preset=model_in.preset,
        name=model_in.name,
        definition=model_in.definition,
        description=model_in.description,
        publish=model_in.publish,
        now=now,
    )
    return _model_public(session, model)


@router.get("/health-models/{model_id}", response_model=HealthModelPublic, responses=NOT_FOUND)
def get_model(model_id: DbId, session: SessionDep, _key: ReadKeyDep) -> HealthModelPublic:
    """A model with every version's definition (export)."""
    return _model_public(session, health_models.get_model(session, model_id))


@router.put(
    "/health-models/{model_id}/draft",
    response_model=HealthModelPublic,
    responses={**NOT_FOUND, **BODY},
)
def save_draft(
    model_id: DbId, draft_in: DraftIn, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> HealthModelPublic:
    """Save the model's draft version (the published version never changes)."""
    health_models.save_draft(session, model_id=model_id, definition=draft_in.definition, now=now)
    return _model_public(session, health_models.get_model(session, model_id))


@router.post(
    "/health-models/{model_id}/versions/{version}/publish",
    response_model=HealthModelPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def publish(
    model_id: DbId,
    version: DbId,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: AdminKeyDep,
) -> HealthModelPublic:
    """Publish a draft: it scores today's accounts at once and from now on; the previous version
    is retired (its scores stay in the history)."""
    health_snapshots.publish_and_score(
        session, model_id=model_id, version=version, today=today, tz=settings.tz, now=now
    )
    return _model_public(session, health_models.get_model(session, model_id))


@router.post("/health-models/{model_id}/default", response_model=HealthModelPublic, responses=NOT_FOUND)
def make_default(model_id: DbId, session: SessionDep, _key: AdminKeyDep) -> HealthModelPublic:
    """Show this model's scores unless another is asked for."""
    return _model_public(session, health_models.set_default(session, model_id=model_id))


@router.delete("/health-models/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_model(model_id: DbId, session: SessionDep, _key: AdminKeyDep) -> Response:
    """Delete a model with its versions and snapshots."""
    health_models.delete_model(session, model_id=model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/health-models/{model_id}/preview",
    response_model=HealthPreviewPublic,
    responses={**NOT_FOUND, **BODY},
)
def preview(
    model_id: DbId,
    preview_in: HealthPreviewIn,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
) -> HealthPreviewPublic:
    """Score every active account with a draft, store nothing, and compare bands before/after."""
    result = health_preview.preview(
        session,
        model_id=model_id,
        definition=preview_in.definition,
        as_of=today,
        tz=settings.tz,
    )
    return HealthPreviewPublic(
        as_of=result.as_of,
        accounts=result.accounts,
        bands_before=result.before,
        bands_after=result.after,
        moved=result.moved,
        biggest_changes=result.biggest_changes,
    )


@router.post(
    "/health-models/{model_id}/backtest",
    response_model=BacktestPublic,
    responses={**NOT_FOUND, **BODY},
)
def backtest(
    model_id: DbId,
    backtest_in: BacktestIn,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
) -> BacktestPublic:
    """How well the model's past scores separated accounts that later churned from those that
    renewed: ROC AUC overall and per measure, churn rate and lift by band."""
    return backtest_svc.run_backtest(
        session,
        model_id=model_id,
        params=backtest_in,
        today=today,
        tz=settings.tz,
    )


def _calibration_public(record: HealthCalibration) -> CalibrationPublic:
    return CalibrationPublic.model_validate(record, from_attributes=True)


@router.post(
    "/health-models/{model_id}/calibrate",
    response_model=CalibrationPublic,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **BODY},
)
def calibrate(
    model_id: DbId,
    calibrate_in: CalibrateIn,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: AdminKeyDep,
) -> CalibrationPublic:
    """Propose a draft version fitted to the book's own history (thresholds from churn rates,
    weights from a regularised logistic regression, band cut-offs with churn rising from good to
    bad), validated out of time against the version it starts from. Nothing is published: read
    the report, then publish the draft. 422 when the history is too short to fit and judge."""
    record = calibration_svc.calibrate_model(
        session,
        model_id=model_id,
        version=calibrate_in.version,
        params=calibration_svc.CalibrationParams(
            horizon_days=calibrate_in.horizon_days,
            cadence_days=calibrate_in.cadence_days,
            bad_share_max=calibrate_in.bad_share_max or settings.calibration_bad_share_max,
            start=calibrate_in.start,
            end=calibrate_in.end,
        ),
        today=today,
        tz=settings.tz,
        now=now,
        actor=key.name,
    )
    return _calibration_public(record)


@router.get(
    "/health-models/{model_id}/calibrations",
    response_model=list[CalibrationPublic],
    responses=NOT_FOUND,
)
def list_calibrations(model_id: DbId, session: SessionDep, _key: ReadKeyDep) -> list[CalibrationPublic]:
    """The model's calibrations, newest first (at most 20)."""
    return [_calibration_public(r) for r in calibration_svc.list_calibrations(session, model_id=model_id)]


@router.get(
    "/health-models/{model_id}/calibrations/{calibration_id}",
    response_model=CalibrationPublic,
    responses=NOT_FOUND,
)
def get_calibration(
    model_id: DbId, calibration_id: DbId, session: SessionDep, _key: ReadKeyDep
) -> CalibrationPublic:
    """One calibration with its report."""
    return _calibration_public(
        calibration_svc.get_calibration(session, model_id=model_id, calibration_id=calibration_id)
    )
