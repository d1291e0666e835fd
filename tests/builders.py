"""Small builders with fixed defaults for test data: written through the services (``make_*``) or
posted to the JSON API (``post_*``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.schemas import AccountCreate, ContactCreate
from app.auth import users
from app.models import Account, Contact, User

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def make_user(
    session: Session, *, email: str = "csm@example.com", role: str = "csm", name: str = "CSM"
) -> User:
    return users.create_user(
        session, email=email, name=name, role=role, password="correct horse battery", now=AS_OF
    )


def make_account(session: Session, *, id: str = "acme", name: str = "Acme", **fields: Any) -> Account:
    data: dict[str, Any] = {"id": id, "name": name, "industry": "manufacturing", "segment": "smb"}
    data.update(fields)
    return accounts.create_account(session, account_in=AccountCreate(**data), now=AS_OF)


def make_contact(
    session: Session, *, account_id: str = "acme", now: dt.datetime = AS_OF, **fields: Any
) -> Contact:
    """A contact created at ``now`` (its role history starts then: a backtest or a past scoring
    date before it does not see the contact)."""
    return accounts.create_contact(
        session, account_id=account_id, contact_in=ContactCreate(**fields), now=now
    )


def make_interaction(
    session: Session, *, account: Account, type: str, occurred_at: dt.datetime, **data: Any
) -> None:
    """An interaction row as the interactions service stores it (data holds the type's fields)."""
    from app.models import Interaction

    assert account.id is not None
    session.add(Interaction(account_id=account.id, type=type, occurred_at=occurred_at,
                            data=data, created_at=occurred_at))
    session.flush()


def post_account(
    client: httpx.Client, headers: dict[str, str], id: str = "acme", **fields: Any
) -> dict[str, Any]:
    """POST /api/v1/accounts: the id, its name in title case unless given, and the fields."""
    response = client.post("/api/v1/accounts", json={"id": id, "name": id.title(), **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def post_source(client: httpx.Client, headers: dict[str, str], name: str = "web-app") -> dict[str, Any]:
    """POST /api/v1/sources; the body holds the id and the write key (shown this once)."""
    response = client.post("/api/v1/sources", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
