"""Contacts: the people at a customer account."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from app.accounts import service as svc
from app.accounts.schemas import ContactCreate, ContactPublic, ContactUpdate
from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND, api_path, contact_public
from app.deps import NowDep, ReadKeyDep, SessionDep, WriteKeyDep
from app.pagination import Page, PageParams, page_params
from app.types import ContactStatus, DbId

router = APIRouter(prefix="/accounts/{account_id}/contacts", tags=["contacts"], responses=ERRORS)


@router.get("", response_model=Page[ContactPublic], responses=NOT_FOUND)
def list_contacts(
    account_id: str,
    session: SessionDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    role: Literal["champion", "decision_maker", "star_user"] | None = None,
    status: ContactStatus | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ContactPublic]:
    """List an account's contacts."""
    rows, next_cursor = svc.list_contacts(
        session, account_id=account_id, page=page, role=role, status=status, q=q
    )
    return Page(data=[contact_public(c, account_id) for c in rows], next_cursor=next_cursor)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ContactPublic,
    responses={**NOT_FOUND, **CONFLICT, **BODY},
)
def create_contact(
    account_id: str, contact_in: ContactCreate, session: SessionDep, now: NowDep,
    key: WriteKeyDep, response: Response,
) -> ContactPublic:
    """Add a contact to an account."""
    contact = svc.create_contact(
        session, account_id=account_id, contact_in=contact_in, now=now, actor=key.name
    )
    response.headers["Location"] = api_path("accounts", account_id, "contacts", contact.id)
    return contact_public(contact, account_id)


@router.get("/{contact_id}", response_model=ContactPublic, responses=NOT_FOUND)
def get_contact(
    account_id: str, contact_id: DbId, session: SessionDep, _key: ReadKeyDep
) -> ContactPublic:
    """One contact."""
    contact = svc.get_contact(session, account_id=account_id, contact_id=contact_id)
    return contact_public(contact, account_id)


@router.patch(
    "/{contact_id}", response_model=ContactPublic, responses={**NOT_FOUND, **CONFLICT, **BODY}
)
def update_contact(
    account_id: str, contact_id: DbId, contact_in: ContactUpdate, session: SessionDep,
    now: NowDep, key: WriteKeyDep,
) -> ContactPublic:
    """Change some fields of a contact."""
    contact = svc.update_contact(
        session, account_id=account_id, contact_id=contact_id, contact_in=contact_in, now=now,
        actor=key.name,
    )
    return contact_public(contact, account_id)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_contact(
    account_id: str, contact_id: DbId, session: SessionDep, now: NowDep, key: WriteKeyDep
) -> None:
    """Soft-delete a contact (kept for history, hidden from lists)."""
    svc.delete_contact(
        session, account_id=account_id, contact_id=contact_id, now=now, actor=key.name
    )
