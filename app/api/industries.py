"""Industry tiers: renewal and expansion per industry, the tier (target = tier 1), overrides."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.accounts import industries as svc
from app.accounts.schemas import IndustryList, IndustryPublic, OverrideIn, OverridePublic, TierConfigModel
from app.api.common import BODY, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep
from app.scoring.tiers import IndustryTier, TierConfig, TierCut
from app.validation import NO_TAGS, route_class

router = APIRouter(tags=["industries"], responses=ERRORS, route_class=route_class(NO_TAGS))


def industry_public(tier: IndustryTier) -> IndustryPublic:
    override = tier.override
    return IndustryPublic(
        name=tier.industry,
        tier=tier.tier,
        is_target=tier.is_target,
        status=tier.status,
        computed_tier=tier.computed_tier,
        renewal_rate=tier.renewal_rate,
        expansion_rate=tier.expansion_rate,
        renewals_due=tier.renewals_due,
        renewed=tier.renewed,
        churned=tier.churned,
        arr_base=tier.arr_base,
        arr_renewed=tier.arr_renewed,
        explanation=tier.explanation,
        window_from=tier.window[0] if tier.window else None,
        window_to=tier.window[1] if tier.window else None,
        override=OverridePublic(
            tier=override.tier, reason=override.reason, set_by=override.set_by, set_at=override.set_at
        )
        if override
        else None,
    )


def config_model(config: TierConfig) -> TierConfigModel:
    return TierConfigModel.model_validate(svc.config_to_dict(config))


@router.get("/industries", response_model=IndustryList)
def list_industries(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    as_of: Annotated[dt.date | None, Query(description="Default: today (team time zone)")] = None,
) -> IndustryList:
    """Every industry with its tier, target flag, the numbers behind it and any override."""
    day = as_of or today
    return IndustryList(
        data=[industry_public(t) for t in svc.list_industries(session, as_of=day)],
        config=config_model(svc.load_config(session)),
    )


@router.get("/industries/config", response_model=TierConfigModel)
def get_config(session: SessionDep, _key: ReadKeyDep) -> TierConfigModel:
    """The tiering configuration in use: lookback, minimum sample, cuts."""
    return config_model(svc.load_config(session))


@router.put("/industries/config", response_model=TierConfigModel, responses=BODY)
def put_config(
    config_in: TierConfigModel, session: SessionDep, now: NowDep, key: AdminKeyDep
) -> TierConfigModel:
    """Save a new tiering configuration (the earlier ones are kept)."""
    config = TierConfig(
        lookback_months=config_in.lookback_months,
        min_renewals_due=config_in.min_renewals_due,
        cuts=tuple(TierCut(**c.model_dump()) for c in config_in.cuts),
        target_tier=config_in.target_tier,
    )
    return config_model(svc.save_config(session, config=config, actor=key.name, now=now))


@router.put("/industries/{name}/override", response_model=IndustryPublic, responses={**NOT_FOUND, **BODY})
def put_override(
    name: str,
    override_in: OverrideIn,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: AdminKeyDep,
) -> IndustryPublic:
    """Set the industry's tier by hand, with the reason; it beats the computed tier."""
    svc.set_override(
        session, industry=name, tier=override_in.tier, reason=override_in.reason, actor=key.name, now=now
    )
    tiers = svc.industry_tiers(session, as_of=today)
    return industry_public(tiers[name])


@router.delete("/industries/{name}/override", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_override(name: str, session: SessionDep, _key: AdminKeyDep) -> Response:
    """Remove the override: the computed tier applies again."""
    svc.clear_override(session, industry=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
