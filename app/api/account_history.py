"""Account history: an account's commercial events, and importing past ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.accounts import history as svc
from app.accounts.schemas import HistoryBatchIn, HistoryBatchPublic, HistoryEventIn, HistoryEventPublic
from app.accounts.service import get_account
from app.api.common import BODY, ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, WriteKeyDep
from app.models import AccountHistory
from app.pagination import Page, PageParams, page_params
from app.validation import NO_TAGS, route_class

router = APIRouter(tags=["account history"], responses=ERRORS, route_class=route_class(NO_TAGS))


def event_public(row: AccountHistory, account_external_id: str) -> HistoryEventPublic:
    return HistoryEventPublic(
        id=row.id or 0, account_id=account_external_id, kind=row.kind,
        occurred_on=row.occurred_on, arr_before=row.arr_before, arr_after=row.arr_after,
        note=row.note, source=row.source, actor=row.actor, recorded_at=row.recorded_at,
    )


@router.get(
    "/accounts/{account_id}/history", response_model=Page[HistoryEventPublic], responses=NOT_FOUND
)
def list_history(
    account_id: str, session: SessionDep, _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[HistoryEventPublic]:
    """The account's renewals, churns, ARR changes and contract start, newest first."""
    account = get_account(session, account_id, include_deleted=False)
    rows, next_cursor = svc.list_history(session, account=account, page=page)
    return Page(data=[event_public(r, account.external_id) for r in rows], next_cursor=next_cursor)


@router.post(
    "/accounts/{account_id}/history", status_code=status.HTTP_201_CREATED,
    response_model=HistoryEventPublic, responses={**NOT_FOUND, **BODY},
)
def add_history(
    account_id: str, event_in: HistoryEventIn, session: SessionDep, now: NowDep, key: WriteKeyDep
) -> HistoryEventPublic:
    """Record a past event; the same account, kind and day again replaces it (safe to retry)."""
    account = get_account(session, account_id)
    rows = svc.import_history(
        session, events_in=[svc.HistoryEventIn(account_id=account.external_id,
                                               **event_in.model_dump())],
        actor=key.name, now=now, single=True,
    )
    return event_public(rows[0][0], account.external_id)


@router.post(
    "/account-history", status_code=status.HTTP_201_CREATED, response_model=HistoryBatchPublic,
    responses=BODY, operation_id="account_history_import",
)
def import_history(
    batch_in: HistoryBatchIn, session: SessionDep, now: NowDep, key: WriteKeyDep
) -> HistoryBatchPublic:
    """Import up to 1,000 past events across accounts (all or nothing; retries replace)."""
    rows = svc.import_history(
        session, events_in=[svc.HistoryEventIn(**e.model_dump()) for e in batch_in.data],
        actor=key.name, now=now,
    )
    return HistoryBatchPublic(data=[event_public(row, external_id) for row, external_id in rows])
