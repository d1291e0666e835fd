"""Attribute history: accounts' and contacts' attributes as they were at any past instant.

Every path that writes an account's tracked attributes (seats, ARR, segment, industry, plan,
owner) or a contact's roles, status or account records the new state here, in the same
transaction, stamped with its own clock (``now``: a replay of the past writes past instants).
One row per change; a write that changes none of them records nothing.

Reading is an overlay on the live tables: an account or contact with no recorded change from the
instant asked about onwards is read as it is now, so a score of today reads exactly the live
tables (one indexed look-up finds nothing changed); one changed since is read from its newest
row before the instant. A contact with no row before it did not exist yet. An account recorded
only from a later instant (created in Bansō after a contract that started before) is read as it
was first recorded: its contract dates, not its record, say whether it was a customer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import FromClause, Table, exists, func, insert, select, union_all
from sqlmodel import Session

from app.db import table_of
from app.models import Account, AccountChange, Contact, ContactChange

ACCOUNT = table_of(Account)
CONTACT = table_of(Contact)
ACCOUNT_CHANGE = table_of(AccountChange)
CONTACT_CHANGE = table_of(ContactChange)

#: A contact's columns that ``contacts_as_of`` gives.
CONTACT_COLUMNS = ("id", "account_id", "is_champion", "is_decision_maker", "is_star_user", "status")
_ACTOR_LENGTH = 320


class AccountState(NamedTuple):
    """An account's tracked attributes."""

    licensed_seats: int | None
    arr: Decimal
    segment: str | None
    industry: str | None
    plan: str | None
    owner_id: int | None


class ContactState(NamedTuple):
    """A contact's tracked attributes."""

    account_id: int
    is_champion: bool
    is_decision_maker: bool
    is_star_user: bool
    status: str


def account_state(account: Account) -> AccountState:
    return AccountState(
        account.licensed_seats,
        Decimal(account.arr),
        account.segment,
        account.industry,
        account.plan,
        account.owner_id,
    )


def contact_state(contact: Contact) -> ContactState:
    return ContactState(
        contact.account_id,
        bool(contact.is_champion),
        bool(contact.is_decision_maker),
        bool(contact.is_star_user),
        contact.status,
    )


# -- recording ----------------------------------------------------------------------------------


def record_account(
    session: Session,
    *,
    account: Account,
    before: AccountState | None,
    now: dt.datetime,
    actor: str,
) -> None:
    """Record the account's tracked attributes if they differ from ``before`` (None: a new
    account). The account must be flushed (it has an id)."""
    assert account.id is not None
    state = account_state(account)
    if state == before:
        return
    session.execute(
        insert(ACCOUNT_CHANGE).values(
            account_id=account.id,
            **state._asdict(),
            valid_from=now,
            recorded_by=actor[:_ACTOR_LENGTH],
        )
    )


def record_contact(
    session: Session,
    *,
    contact: Contact,
    before: ContactState | None,
    now: dt.datetime,
    actor: str,
) -> None:
    """Record the contact's roles, status and account if they differ from ``before`` (None: a
    new contact). The contact must be flushed (it has an id)."""
    assert contact.id is not None
    state = contact_state(contact)
    if state == before:
        return
    session.execute(
        insert(CONTACT_CHANGE).values(
            contact_id=contact.id,
            **state._asdict(),
            valid_from=now,
            recorded_by=actor[:_ACTOR_LENGTH],
        )
    )


# -- reading ------------------------------------------------------------------------------------


def accounts_as_of(
    session: Session, at: dt.datetime, *, account_ids: list[int] | None = None
) -> dict[int, AccountState]:
    """The tracked attributes at ``at`` of every account changed at or after it (the others are
    as they are now). One query; nothing to read when nothing changed since."""
    ac = ACCOUNT_CHANGE.c
    changed = select(ac.account_id).where(ac.valid_from >= at)
    if account_ids is not None:
        changed = changed.where(ac.account_id.in_(account_ids))
    rows = session.execute(
        select(ac.account_id, ac.valid_from, *(ac[name] for name in AccountState._fields))
        .where(ac.account_id.in_(changed))
        .order_by(ac.account_id, ac.valid_from, ac.id)
    ).all()
    out: dict[int, AccountState] = {}
    settled: set[int] = set()
    for account_id, valid_from, *state in rows:
        if account_id in settled:
            continue
        if valid_from >= at:
            # Newer than the instant: the newest row before it (already kept) stands, else this
            # first row is the earliest known state.
            settled.add(account_id)
            out.setdefault(account_id, AccountState(*state))
            continue
        out[account_id] = AccountState(*state)
    return out


def contacts_changed_since(session: Session, at: dt.datetime) -> bool:
    """Whether any contact's tracked attributes changed at or after ``at``."""
    cc = CONTACT_CHANGE.c
    return bool(session.execute(select(exists().where(cc.valid_from >= at))).scalar())


def contacts_as_of(session: Session, at: dt.datetime) -> Table | FromClause:
    """The contacts as they were at ``at``, with the columns of :data:`CONTACT_COLUMNS`: the
    ``contact`` table itself when nothing changed since (so today's queries are unchanged),
    else the unchanged contacts and, for the changed ones, their newest row before ``at`` (none:
    the contact did not exist yet)."""
    if not contacts_changed_since(session, at):
        return CONTACT
    cc = CONTACT_CHANGE.c
    later = select(cc.contact_id).where(cc.valid_from >= at)
    unchanged = select(*(CONTACT.c[name] for name in CONTACT_COLUMNS)).where(CONTACT.c.id.not_in(later))
    ranked = (
        select(
            cc.contact_id.label("id"),
            *(cc[name] for name in CONTACT_COLUMNS[1:]),
            func.row_number()
            .over(partition_by=cc.contact_id, order_by=(cc.valid_from.desc(), cc.id.desc()))
            .label("n"),
        )
        .where(cc.valid_from < at, cc.contact_id.in_(later))
        .subquery("ranked")
    )
    past = select(*(ranked.c[name] for name in CONTACT_COLUMNS)).where(ranked.c.n == 1)
    return union_all(unchanged, past).subquery("contact_as_of")


def contact_departures(session: Session, *, contact_ids: Any, at: dt.datetime) -> dict[int, dt.datetime]:
    """For each of the contacts (a select of ids) recorded as an active champion and later not,
    up to ``at``: the instant it last stopped being an active champion."""
    cc = CONTACT_CHANGE.c
    rows = session.execute(
        select(cc.contact_id, cc.valid_from, cc.is_champion, cc.status)
        .where(cc.contact_id.in_(contact_ids), cc.valid_from <= at)
        .order_by(cc.contact_id, cc.valid_from, cc.id)
    ).all()
    out: dict[int, dt.datetime] = {}
    was: dict[int, bool] = {}
    for contact_id, valid_from, is_champion, status in rows:
        now_champion = bool(is_champion) and status == "active"
        if was.get(contact_id) and not now_champion:
            out[contact_id] = valid_from
        elif now_champion:
            out.pop(contact_id, None)
        was[contact_id] = now_champion
    return out
