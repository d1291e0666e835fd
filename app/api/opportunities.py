"""Expansion opportunities: the upsell pipeline, its weighted totals, and suggestions.

Every single opportunity comes with an ``ETag``; PATCH and DELETE require it back in ``If-Match``
(428 without, 412 with the current opportunity when it is stale). Creating is idempotent with an
``Idempotency-Key`` header or an ``external_id``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep, WriteKeyDep
from app.expansion import service as svc
from app.expansion.schemas import (
    OpportunityCreate,
    OpportunityPublic,
    OpportunityUpdate,
    PipelinePublic,
    SuggestionPublic,
)
from app.pagination import Page, PageParams, page_params
from app.scoring import expansion as pure
from app.types import DbId

router = APIRouter(tags=["expansion"], responses=ERRORS)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "Stale If-Match; the body holds `current` and its `etag`", **_PROBLEM},
    428: {"description": "If-Match is required", **_PROBLEM},
}
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The ETag you read, e.g. `"opportunity-1-v3"`'),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Makes a retry safe: the same key and body again creates nothing",
    ),
]
StageQuery = Annotated[
    list[str] | None,
    Query(description="Stages to include (repeat it or use a comma list); `open` or `closed`"),
]
OwnerQuery = Annotated[str | None, Query(description="The owning CSM's email, or `none`")]
SegmentQuery = Annotated[str | None, Query(description="enterprise, mid_market or smb")]
TierQuery = Annotated[str | None, Query(description="The account's industry tier: 1–4 or `none`")]


def _public(view: svc.OpportunityView) -> OpportunityPublic:
    return OpportunityPublic.model_validate(svc.public(view))


def _tagged(response: Response, view: svc.OpportunityView) -> None:
    response.headers["ETag"] = svc.etag(view.opportunity)


def _bucket(b: pure.Bucket) -> dict[str, Any]:
    return {
        "key": b.key,
        "currency": b.currency,
        "count": b.count,
        "amount": b.amount,
        "weighted_amount": b.weighted,
    }


@router.get("/opportunities", response_model=Page[OpportunityPublic])
def list_opportunities(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    stage: StageQuery = None,
    owner: OwnerQuery = None,
    segment: SegmentQuery = None,
    tier: TierQuery = None,
) -> Page[OpportunityPublic]:
    """Opportunities, newest first, filtered by stage, owner, segment and industry tier."""
    filters = svc.parse_filters(session, stage=stage, owner=owner, segment=segment, tier=tier)
    result = svc.list_opportunities(session, filters=filters, page=page, today=today)
    return Page(data=[_public(v) for v in result.items], next_cursor=result.next_cursor)


@router.post(
    "/opportunities",
    status_code=status.HTTP_201_CREATED,
    response_model=OpportunityPublic,
    responses={200: {"description": "A retry of one already stored: nothing new"}, **CONFLICT, **BODY},
)
def create_opportunity(
    opportunity_in: OpportunityCreate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: WriteKeyDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OpportunityPublic:
    """Create an opportunity; with `source` naming an active expansion signal its facts are
    recorded (and its suggested amount used when no amount is sent)."""
    view = svc.create_opportunity(
        session,
        opportunity_in=opportunity_in,
        idempotency_key=idempotency_key,
        actor=key.name,
        now=now,
        today=today,
    )
    if not view.created:
        response.status_code = status.HTTP_200_OK
    _tagged(response, view)
    response.headers["Location"] = f"/api/v1/opportunities/{view.opportunity.id}"
    return _public(view)


@router.get("/opportunities/pipeline", response_model=PipelinePublic)
def get_pipeline(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    owner: OwnerQuery = None,
    segment: SegmentQuery = None,
    tier: TierQuery = None,
) -> PipelinePublic:
    """Counts, amounts and weighted amounts (amount × the stage's win probability) by stage, and
    of the open pipeline by industry tier, per currency."""
    filters = svc.parse_filters(session, owner=owner, segment=segment, tier=tier)
    result = svc.pipeline(session, filters=filters, today=today)
    rules = pure.PipelineRules()
    return PipelinePublic.model_validate(
        {
            "currencies": result.currencies,
            "by_stage": [{**_bucket(b), "probability": rules.probability(b.key)} for b in result.by_stage],
            "by_tier": [_bucket(b) for b in result.by_tier],
            "open": [_bucket(b) for b in result.open_total],
        }
    )


@router.get("/opportunities/suggestions", response_model=list[SuggestionPublic])
def list_suggestions(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    owner: OwnerQuery = None,
    segment: SegmentQuery = None,
    tier: TierQuery = None,
) -> list[SuggestionPublic]:
    """Accounts with an expansion signal (seats nearly full, usage growth) and no open
    opportunity, with the signal's facts; create one with `source` set to the signal."""
    filters = svc.parse_filters(session, owner=owner, segment=segment, tier=tier)
    return [
        SuggestionPublic(
            account_id=s.account.external_id,
            account_name=s.account.name,
            owner=s.owner.email if s.owner else None,
            segment=s.account.segment,
            tier=s.tier,
            signal=s.signal.kind,
            kind=s.signal.opportunity_kind,
            amount=Decimal(s.signal.amount),
            currency=s.account.currency,
            data=s.signal.data,
        )
        for s in svc.suggestions(session, filters=filters, today=today)
    ]


@router.get("/opportunities/{opportunity_id}", response_model=OpportunityPublic, responses=NOT_FOUND)
def get_opportunity(
    opportunity_id: DbId,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    response: Response,
) -> OpportunityPublic:
    """One opportunity, with its ETag."""
    row = svc.get_opportunity(session, opportunity_id)
    view = svc.view_of(session, row, today=today)
    _tagged(response, view)
    return _public(view)


@router.patch(
    "/opportunities/{opportunity_id}",
    response_model=OpportunityPublic,
    responses={**NOT_FOUND, **BODY, **PRECONDITION},
)
def update_opportunity(
    opportunity_id: DbId,
    opportunity_in: OpportunityUpdate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: WriteKeyDep,
    response: Response,
    if_match: IfMatch = None,
) -> OpportunityPublic:
    """Change some fields (If-Match required): a stage change to won or lost records the day."""
    view = svc.update_opportunity(
        session,
        opportunity_id=opportunity_id,
        changes=opportunity_in.model_dump(exclude_unset=True),
        expected_version=svc.expected_version(if_match, id=opportunity_id),
        actor=key.name,
        now=now,
        today=today,
    )
    _tagged(response, view)
    return _public(view)


@router.delete(
    "/opportunities/{opportunity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **PRECONDITION},
)
def delete_opportunity(
    opportunity_id: DbId,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: WriteKeyDep,
    if_match: IfMatch = None,
) -> None:
    """Delete an opportunity (If-Match required)."""
    svc.delete_opportunity(
        session,
        opportunity_id=opportunity_id,
        expected_version=svc.expected_version(if_match, id=opportunity_id),
        today=today,
    )


@router.get(
    "/accounts/{account_id}/opportunities", response_model=list[OpportunityPublic], responses=NOT_FOUND
)
def account_opportunities(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
) -> list[OpportunityPublic]:
    """The account's opportunities: open ones first, then newest first."""
    _, items = svc.account_opportunities(session, account_id=account_id, today=today)
    return [_public(v) for v in items]
