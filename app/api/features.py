"""The feature catalog, and an account's use of each feature."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep
from app.models import Feature
from app.pagination import Page
from app.usage import features as svc
from app.usage.schemas import (
    AccountFeaturesPublic,
    FeatureCreate,
    FeaturePublic,
    FeatureUpdate,
    FeatureUsagePublic,
)

router = APIRouter(tags=["features"], responses=ERRORS)


def _public(feature: Feature) -> FeaturePublic:
    return FeaturePublic.model_validate(feature, from_attributes=True)


@router.get("/features", response_model=Page[FeaturePublic])
def list_features(session: SessionDep, _key: ReadKeyDep) -> Page[FeaturePublic]:
    """The catalog, in matching order."""
    return Page(data=[_public(f) for f in svc.list_features(session)])


@router.post(
    "/features",
    status_code=status.HTTP_201_CREATED,
    response_model=FeaturePublic,
    responses={**CONFLICT, **BODY},
)
def create_feature(
    feature_in: FeatureCreate, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> FeaturePublic:
    """Add a feature."""
    feature = svc.create_feature(session, feature_in=svc.FeatureIn(**feature_in.model_dump()), now=now)
    return _public(feature)


@router.patch("/features/{key}", response_model=FeaturePublic, responses={**NOT_FOUND, **BODY})
def update_feature(
    key: str, feature_in: FeatureUpdate, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> FeaturePublic:
    """Change a feature."""
    changes = feature_in.model_dump(exclude_unset=True)
    return _public(svc.update_feature(session, key=key, changes=changes, now=now))


@router.delete("/features/{key}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_feature(key: str, session: SessionDep, _key: AdminKeyDep) -> Response:
    """Remove a feature (its events become unmapped; rollups are untouched)."""
    svc.delete_feature(session, key=key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/accounts/{account_id}/features", response_model=AccountFeaturesPublic, responses=NOT_FOUND)
def account_features(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
) -> AccountFeaturesPublic:
    """Use of each feature in the range (default: the last 30 days), unused key features included."""
    end = end or today
    start = start or end - dt.timedelta(days=29)
    rows = svc.account_feature_usage(session, account_id=account_id, start=start, end=end)
    data = [FeatureUsagePublic(**vars(r), used=r.event_count > 0) for r in rows]
    keys = [d for d in data if d.is_key]
    return AccountFeaturesPublic(
        account_id=account_id,
        start=start,
        end=end,
        key_features_used=sum(1 for d in keys if d.used),
        key_features_total=len(keys),
        data=data,
    )
