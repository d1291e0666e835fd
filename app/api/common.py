"""Shared pieces of the API routers: documented error responses and serialisers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlmodel import Session

from app.accounts.schemas import AccountPublic, ContactPublic
from app.accounts.service import account_owner
from app.models import Account, Contact, User

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one", **_PROBLEM},
    403: {"description": "The API key's scope is too small", **_PROBLEM},
    422: {"description": "Invalid input; `errors` names each field", **_PROBLEM},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found", **_PROBLEM}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "Already exists", **_PROBLEM}}
#: An action the resource's state does not allow (retrying an email that has not failed).
STATE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the resource's current state", **_PROBLEM}
}
BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON", **_PROBLEM},
    413: {"description": "Body too large", **_PROBLEM},
}


def api_path(*segments: str | int | None) -> str:
    """An API URL for a ``Location`` header: each segment percent-encoded, as an account's
    external id may hold any character (``アクメ`` → ``%E3%82%A2...``) and a header only Latin-1."""
    return "/api/v1/" + "/".join(quote(str(s), safe="") for s in segments)


def account_public(account: Account, owner: User | None) -> AccountPublic:
    return AccountPublic(
        id=account.external_id, name=account.name, industry=account.industry,
        segment=account.segment, plan=account.plan, licensed_seats=account.licensed_seats,
        arr=account.arr, currency=account.currency, contract_start_on=account.contract_start_on,
        renewal_on=account.renewal_on, status=account.status,
        churned_on=account.churned_on, owner=owner.email if owner else None,
        traits=account.traits, created_at=account.created_at, updated_at=account.updated_at,
    )


def account_public_loaded(session: Session, account: Account) -> AccountPublic:
    return account_public(account, account_owner(session, account))


def contact_public(contact: Contact, account_external_id: str) -> ContactPublic:
    return ContactPublic(
        id=contact.id or 0, account_id=account_external_id, external_id=contact.external_id,
        email=contact.email, name=contact.name, title=contact.title,
        is_champion=contact.is_champion, is_decision_maker=contact.is_decision_maker,
        is_star_user=contact.is_star_user, status=contact.status,
        traits=contact.traits, created_at=contact.created_at, updated_at=contact.updated_at,
    )
