"""What group and identify calls change: the accounts they name, the tracked users and the
account each is linked to, and the contacts behind those users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.accounts import changes as attribute_history
from app.db import column_length
from app.ingest.segment import group_seats
from app.ingest.statements import sql_of
from app.models import Account, Contact, TrackedUser


def account_ids(session: Session, external_ids: set[str]) -> dict[str, int]:
    """The ids of the accounts with these external ids (those that exist)."""
    if not external_ids:
        return {}
    rows = sql_of(session).select_in(
        session, "SELECT external_id, id FROM account WHERE external_id", sorted(external_ids)
    )
    return {ext: id_ for ext, id_ in rows}


def user_links(session: Session, user_ids: set[str]) -> dict[str, int]:
    """The account each of these users is linked to (those linked to one)."""
    if not user_ids:
        return {}
    rows = sql_of(session).select_in(
        session,
        "SELECT user_id, account_id FROM tracked_user WHERE account_id IS NOT NULL AND user_id",
        sorted(user_ids),
    )
    return {u: a for u, a in rows}


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


_ACCOUNT_NAME = column_length(Account, "name")
#: Who changes made by group and identify calls are recorded as made by.
SEGMENT_ACTOR = "segment"


def upsert_account(session: Session, external_id: str, traits: dict[str, Any], now: dt.datetime) -> int:
    """Create the account a group call names, or update it from the call's traits."""
    account = session.execute(
        select(Account).where(Account.external_id == external_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if account is None:
        account = Account(
            external_id=external_id,
            name=_text(traits.get("name"), _ACCOUNT_NAME) or external_id,
            created_at=now,
            updated_at=now,
            traits={},
        )
    before = attribute_history.account_state(account) if account.id is not None else None
    changed = False
    for attr, key in (("name", "name"), ("industry", "industry"), ("plan", "plan")):
        value = _text(traits.get(key), column_length(Account, attr))
        if value and getattr(account, attr) != value:
            setattr(account, attr, value)
            changed = True
    seats = group_seats(traits)
    if seats is not None and account.licensed_seats != seats:
        account.licensed_seats = seats
        changed = True
    merged = {**(account.traits or {}), **traits}
    if merged != account.traits:
        account.traits = merged
        changed = True
    if changed or account.id is None:
        account.updated_at = now
        session.add(account)
        session.flush()
        attribute_history.record_account(
            session, account=account, before=before, now=now, actor=SEGMENT_ACTOR
        )
    assert account.id is not None
    return account.id


def _tracked_user(session: Session, user_id: str) -> TrackedUser | None:
    return session.execute(
        select(TrackedUser).where(TrackedUser.user_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()


def link_user(session: Session, user_id: str, account_id: int, now: dt.datetime) -> bool:
    """Record the user's latest group link; True when it is new or moved. Creates the contact."""
    user = _tracked_user(session, user_id)
    moved = user is None or user.account_id != account_id
    if user is None:
        user = TrackedUser(
            user_id=user_id, account_id=account_id, traits={}, first_seen_at=now, last_seen_at=now
        )
    user.account_id = account_id
    user.last_seen_at = now
    session.add(user)
    _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()
    return moved


def identify(
    session: Session,
    user_id: str,
    traits: dict[str, Any],
    account_id: int | None,
    now: dt.datetime,
) -> None:
    """Merge an identify call's traits into the user's, and into its contact once the user
    belongs to an account (``account_id``, or the account it is already linked to)."""
    user = _tracked_user(session, user_id)
    if user is None:
        user = TrackedUser(user_id=user_id, account_id=None, traits={}, first_seen_at=now, last_seen_at=now)
    user.traits = {**(user.traits or {}), **traits}
    user.last_seen_at = now
    account_id = account_id or user.account_id
    user.account_id = account_id
    session.add(user)
    if account_id is not None:
        _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()


def _upsert_contact(
    session: Session, user_id: str, traits: dict[str, Any], account_id: int, now: dt.datetime
) -> None:
    contact = session.execute(
        select(Contact).where(Contact.external_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    before = None
    if contact is None:
        contact = Contact(
            account_id=account_id, external_id=user_id, traits={}, created_at=now, updated_at=now
        )
    else:
        before = attribute_history.contact_state(contact)
    contact.account_id = account_id
    email = _text(traits.get("email"), column_length(Contact, "email"))
    if email and "@" in email:
        contact.email = email.lower()
    name_limit = column_length(Contact, "name")
    name = _text(traits.get("name"), name_limit) or _text(
        " ".join(str(traits[k]) for k in ("lastName", "firstName") if traits.get(k)), name_limit
    )
    if name:
        contact.name = name
    title = _text(traits.get("title"), column_length(Contact, "title"))
    if title:
        contact.title = title
    contact.traits = {**(contact.traits or {}), **traits}
    contact.updated_at = now
    session.add(contact)
    if before is None or before.account_id != account_id:
        # A new contact, or one that moved to another account: its history says so.
        session.flush()
        attribute_history.record_contact(
            session, contact=contact, before=before, now=now, actor=SEGMENT_ACTOR
        )
