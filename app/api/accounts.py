"""Accounts, addressed by their external id (the Segment groupId)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.accounts import service as svc
from app.accounts.schemas import AccountCreate, AccountPublic, AccountUpdate
from app.api.common import (
    BODY,
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    account_public,
    account_public_loaded,
    api_path,
)
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, WriteKeyDep
from app.pagination import Page, PageParams, page_params
from app.types import AccountStatus, Segment

router = APIRouter(prefix="/accounts", tags=["accounts"], responses=ERRORS)


@router.get("", response_model=Page[AccountPublic])
def list_accounts(
    session: SessionDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    owner: Annotated[str | None, Query(description="Owner's email, or `none`")] = None,
    segment: Segment | None = None,
    industry: str | None = None,
    status: Annotated[AccountStatus | None, Query(description="Default: not deleted")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name")] = None,
    sort: Annotated[
        str, Query(description="name, created_at, renewal_on, arr or id; `-` for descending")
    ] = "name",
) -> Page[AccountPublic]:
    """List accounts, filtered and sorted, one page at a time."""
    filters = svc.AccountFilters(
        owner=owner, segment=segment, industry=industry, status=status, q=q, sort=sort
    )
    result = svc.list_accounts(session, filters=filters, page=page)
    return Page(
        data=[account_public(a, u) for a, u in result.accounts], next_cursor=result.next_cursor
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=AccountPublic,
    responses={**CONFLICT, **BODY},
)
def create_account(
    account_in: AccountCreate, session: SessionDep, now: NowDep, settings: SettingsDep,
    key: WriteKeyDep, response: Response,
) -> AccountPublic:
    """Create an account (usage already sent for its id is attributed to it)."""
    account = svc.create_account(
        session, account_in=account_in, now=now, tz=settings.tz, actor=key.name
    )
    response.headers["Location"] = api_path("accounts", account.external_id)
    return account_public_loaded(session, account)


@router.get("/{account_id}", response_model=AccountPublic, responses=NOT_FOUND)
def get_account(account_id: str, session: SessionDep, _key: ReadKeyDep) -> AccountPublic:
    """One account."""
    return account_public_loaded(session, svc.get_account(session, account_id))


@router.patch("/{account_id}", response_model=AccountPublic, responses={**NOT_FOUND, **BODY})
def update_account(
    account_id: str, account_in: AccountUpdate, session: SessionDep, now: NowDep,
    key: WriteKeyDep,
) -> AccountPublic:
    """Change some fields of an account."""
    account = svc.update_account(
        session, external_id=account_id, account_in=account_in, now=now, actor=key.name
    )
    return account_public_loaded(session, account)


@router.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_account(account_id: str, session: SessionDep, now: NowDep, _key: WriteKeyDep) -> None:
    """Soft-delete an account: it leaves lists and lookups; its history is kept."""
    svc.delete_account(session, external_id=account_id, now=now)
