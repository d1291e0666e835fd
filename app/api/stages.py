"""Lifecycle stages, champion ratings and signals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from app.api.common import BODY, ERRORS, NOT_FOUND
from app.auth.users import require_user_by_email
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep, SettingsDep, WriteKeyDep
from app.lifecycle import run as lifecycle
from app.lifecycle import stages as svc
from app.lifecycle.schemas import (
    ChampionRatingIn,
    ChampionRatingPublic,
    IndicatorPublic,
    RunPublic,
    SignalList,
    SignalPublic,
    StageChangePublic,
    StageList,
    StagePublic,
    StageRow,
)
from app.models import AccountSignal, AccountStage, StageChange
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor, page_params

router = APIRouter(tags=["stages and signals"], responses=ERRORS)
Owner = Annotated[str | None, Query(description="A CSM's email")]


def _stage_public(external_id: str, stage: AccountStage | None, history: list[StageChange]) -> StagePublic:
    detail: dict[str, Any] = stage.detail if stage else {}
    return StagePublic(
        account_id=external_id, stage=stage.stage if stage else None,
        since_on=stage.since_on if stage else None, computed_on=stage.computed_on if stage else None,
        champion_motivation=detail.get("champion_motivation"),
        indicators=[IndicatorPublic.model_validate(i) for i in detail.get("indicators", [])],
        history=[StageChangePublic(previous=c.previous, stage=c.stage, changed_on=c.changed_on)
                 for c in history],
    )


@router.get("/accounts/{account_id}/stage", response_model=StagePublic, responses=NOT_FOUND)
def account_stage(account_id: str, session: SessionDep, _key: ReadKeyDep) -> StagePublic:
    """The account's lifecycle stage, the three indicators behind it and its transitions."""
    view = svc.account_stage(session, account_id=account_id)
    return _stage_public(view.account.external_id, view.stage, view.history)


@router.get("/stages", response_model=StageList)
def list_stages(
    session: SessionDep, _key: ReadKeyDep, page: Annotated[PageParams, Depends(page_params)],
    stage: Annotated[str | None, Query(description="success | growth | rescue | mogura")] = None,
    owner: Owner = None,
) -> StageList:
    """Accounts by lifecycle stage, with the count in each stage."""
    owner_id = require_user_by_email(session, owner, field="owner").id if owner else None
    after = decode_cursor(page.cursor, sort="id").last_id if page.cursor else None
    rows = svc.list_stages(session, stage=stage, owner_id=owner_id, after_id=after, limit=page.limit + 1)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return StageList(
        data=[StageRow(account_id=a.external_id, name=a.name, owner_id=a.owner_id, stage=s.stage,
                       since_on=s.since_on) for a, s in rows],
        next_cursor=encode_cursor(Cursor("id", None, rows[-1][0].id or 0)) if more and rows else None,
        counts=svc.stage_counts(session, owner_id=owner_id),
    )


@router.post("/stages/recompute", response_model=RunPublic)
def recompute(session: SessionDep, settings: SettingsDep, now: NowDep, _key: AdminKeyDep) -> RunPublic:
    """Computes every account's stage and signals, and the playbook tasks, now (also run daily)."""
    result = lifecycle.run_daily(session, now=now, tz=settings.tz)
    return RunPublic.model_validate(result, from_attributes=True)


@router.post("/accounts/{account_id}/champion-rating", status_code=status.HTTP_201_CREATED,
             response_model=ChampionRatingPublic, responses={**NOT_FOUND, **BODY})
def rate_champion(
    account_id: str, rating_in: ChampionRatingIn, session: SessionDep, now: NowDep, key: WriteKeyDep,
) -> ChampionRatingPublic:
    """Records the CSM's rating of the champion's motivation; it overrides the derived one."""
    row = svc.rate_champion(session, account_id=account_id, rating=rating_in.rating,
                            comment=rating_in.comment, user=None, author=f"api-key:{key.name}", now=now)
    return ChampionRatingPublic(account_id=account_id, rating=row.rating, comment=row.comment,
                                author=row.author, created_at=row.created_at)


def _signal_public(s: AccountSignal, external_id: str, name: str) -> SignalPublic:
    return SignalPublic(id=s.id or 0, account_id=external_id, account_name=name, kind=s.kind,
                        severity=s.severity, active=s.cleared_on is None, first_on=s.first_on,
                        last_on=s.last_on, cleared_on=s.cleared_on, fired_data=s.fired_data, data=s.data)


@router.get("/accounts/{account_id}/signals", response_model=SignalList, responses=NOT_FOUND)
def account_signals(
    account_id: str, session: SessionDep, _key: ReadKeyDep,
    active: Annotated[bool, Query(description="Only the signals active now")] = False,
) -> SignalList:
    """The account's signals, active ones first, with the data that fired each (history kept)."""
    account, rows = svc.account_signals(session, account_id=account_id, active_only=active)
    return SignalList(data=[_signal_public(s, account.external_id, account.name) for s in rows],
                      next_cursor=None)


@router.get("/signals", response_model=SignalList)
def list_signals(
    session: SessionDep, _key: ReadKeyDep, page: Annotated[PageParams, Depends(page_params)],
    kind: str | None = None, owner: Owner = None,
    active: Annotated[bool, Query(description="Only open episodes (default)")] = True,
) -> SignalList:
    """Signals across accounts, newest first."""
    owner_id = require_user_by_email(session, owner, field="owner").id if owner else None
    after = decode_cursor(page.cursor, sort="id").last_id if page.cursor else None
    rows = svc.list_signals(session, kind=kind, owner_id=owner_id, active=active, after_id=after,
                            limit=page.limit + 1)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return SignalList(
        data=[_signal_public(s, a.external_id, a.name) for s, a in rows],
        next_cursor=encode_cursor(Cursor("id", None, rows[-1][0].id or 0)) if more and rows else None,
    )
