"""Accounts and their contacts: create, read, update, soft delete, filtered keyset listing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, literal, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts import changes as attribute_history
from app.accounts import history as account_history
from app.accounts.schemas import AccountCreate, AccountUpdate, ContactCreate, ContactUpdate
from app.auth.users import require_user_by_email
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.ingest import store as ingest_store
from app.models import Account, Contact, User
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor

#: Sort keys accepted by list_accounts; a leading "-" sorts descending.
ACCOUNT_SORTS = ("name", "created_at", "renewal_on", "arr", "id")
_FAR_FUTURE = dt.date(9999, 12, 31)


@dataclass(frozen=True)
class AccountFilters:
    owner: str | None = None  # a user's email, or "none" for unassigned accounts
    segment: str | None = None
    industry: str | None = None
    status: str | None = None  # default: active and churned (deleted ones only when asked)
    q: str | None = None  # case-insensitive substring of the name
    sort: str = "name"


@dataclass(frozen=True)
class AccountPage:
    accounts: list[tuple[Account, User | None]]
    next_cursor: str | None


def _check_dates(
    *, status: str, churned_on: dt.date | None, start: dt.date | None, renewal: dt.date | None
) -> list[FieldError]:
    errors = []
    if start and renewal and renewal < start:
        errors.append(FieldError("renewal_on", "must not be before contract_start_on"))
    if status == "active" and churned_on is not None:
        errors.append(FieldError("churned_on", "only a churned account has a churn date"))
    return errors


def _owner_id(session: Session, owner: str | None) -> int | None:
    return require_user_by_email(session, owner).id if owner else None


def create_account(
    session: Session, *, account_in: AccountCreate, now: dt.datetime, tz: ZoneInfo | None = None,
    actor: str = "system",
) -> Account:
    """A new account; 409 if its external id is taken, 422 naming any field that breaks a rule.
    Its attributes are recorded as valid from ``now`` (``actor``: who made it).

    With ``tz`` (the team's time zone, for usage days), usage events that named this account
    before it existed are attributed to it now, rollups included.
    """
    churned_on = account_in.churned_on
    if account_in.status == "churned" and churned_on is None:
        churned_on = now.date()
    errors = _check_dates(
        status=account_in.status, churned_on=churned_on,
        start=account_in.contract_start_on, renewal=account_in.renewal_on,
    )
    if errors:
        raise InvalidInput(errors)
    if find_account(session, account_in.id) is not None:
        raise Conflict(f"an account with id {account_in.id!r} already exists")
    account = Account(
        external_id=account_in.id, name=account_in.name, industry=account_in.industry,
        segment=account_in.segment, plan=account_in.plan,
        licensed_seats=account_in.licensed_seats, arr=account_in.arr,
        currency=account_in.currency, contract_start_on=account_in.contract_start_on,
        renewal_on=account_in.renewal_on, status=account_in.status, churned_on=churned_on,
        owner_id=_owner_id(session, account_in.owner), traits=account_in.traits,
        created_at=now, updated_at=now,
    )
    session.add(account)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Lost a race with a concurrent create of the same external id.
        raise Conflict(f"an account with id {account_in.id!r} already exists") from None
    account_history.record_changes(session, account=account, before=None, now=now)
    attribute_history.record_account(session, account=account, before=None, now=now, actor=actor)
    if tz is not None:
        assert account.id is not None
        ingest_store.attribute_pending_for_account(
            session, account_id=account.id, external_id=account.external_id, tz=tz, now=now
        )
    return account


def find_account(session: Session, external_id: str) -> Account | None:
    """The account with this external id (deleted ones included), or None."""
    return session.exec(select(Account).where(Account.external_id == external_id)).first()


def get_account(session: Session, external_id: str, *, include_deleted: bool = False) -> Account:
    """The account with this external id; 404 if unknown (or deleted, unless asked for)."""
    account = find_account(session, external_id)
    if account is None or (account.status == "deleted" and not include_deleted):
        raise NotFound(f"no account with id {external_id!r}")
    return account


def account_owner(session: Session, account: Account) -> User | None:
    return session.get(User, account.owner_id) if account.owner_id else None


def update_account(
    session: Session, *, external_id: str, account_in: AccountUpdate, now: dt.datetime,
    actor: str = "system",
) -> Account:
    """Apply the fields present in ``account_in``; churning sets churned_on to today if absent.
    Changed attributes are recorded as valid from ``now``."""
    account = get_account(session, external_id)
    before = account_history.terms_of(account)
    attributes_before = attribute_history.account_state(account)
    changes: dict[str, Any] = account_in.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput.field("name", "must not be null")
    for field in ("status", "arr", "currency", "traits"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "must not be null")
    if "owner" in changes:
        account.owner_id = _owner_id(session, changes.pop("owner"))
    for field, value in changes.items():
        setattr(account, field, value)
    if changes.get("status") == "churned" and account.churned_on is None:
        account.churned_on = now.date()
    if changes.get("status") == "active" and "churned_on" not in changes:
        account.churned_on = None
    errors = _check_dates(
        status=account.status, churned_on=account.churned_on,
        start=account.contract_start_on, renewal=account.renewal_on,
    )
    if errors:
        raise InvalidInput(errors)
    account.updated_at = now
    session.add(account)
    session.flush()
    account_history.record_changes(session, account=account, before=before, now=now)
    attribute_history.record_account(
        session, account=account, before=attributes_before, now=now, actor=actor
    )
    return account


def delete_account(session: Session, *, external_id: str, now: dt.datetime) -> Account:
    """Soft delete: the account keeps its data and history but leaves lists and lookups."""
    account = get_account(session, external_id)
    account.status = "deleted"
    account.updated_at = now
    session.add(account)
    session.flush()
    return account


def _sort_expression(sort: str) -> tuple[ColumnElement[Any], bool]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    expressions: dict[str, Any] = {
        "name": col(Account.name),
        "created_at": col(Account.created_at),
        "renewal_on": func.coalesce(col(Account.renewal_on), literal(_FAR_FUTURE)),
        "arr": col(Account.arr),
        "id": col(Account.id),
    }
    return expressions[key], descending


def _cursor_value(account: Account, sort: str) -> Any:
    key = sort.lstrip("-")
    if key == "renewal_on":
        return (account.renewal_on or _FAR_FUTURE).isoformat()
    if key == "created_at":
        return account.created_at.isoformat()
    if key == "arr":
        return str(account.arr)
    if key == "id":
        return account.id
    return account.name


def _parse_cursor_value(sort: str, value: Any) -> Any:
    key = sort.lstrip("-")
    try:
        if key == "renewal_on":
            return dt.date.fromisoformat(value)
        if key == "created_at":
            return dt.datetime.fromisoformat(value)
        if key == "arr":
            return Decimal(value)
        if key == "id":
            return int(value)
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    except (TypeError, ValueError, ArithmeticError):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None


def list_accounts(session: Session, *, filters: AccountFilters, page: PageParams) -> AccountPage:
    """One page of accounts matching the filters, in a stable order, with the next cursor."""
    if filters.sort.lstrip("-") not in ACCOUNT_SORTS:
        allowed = ", ".join(s for k in ACCOUNT_SORTS for s in (k, f"-{k}"))
        raise InvalidInput.field("sort", f"must be one of {allowed}", "query")
    query = select(Account, User).join(User, col(Account.owner_id) == col(User.id), isouter=True)
    if filters.status:
        query = query.where(Account.status == filters.status)
    else:
        query = query.where(Account.status != "deleted")
    if filters.owner == "none":
        query = query.where(col(Account.owner_id).is_(None))
    elif filters.owner:
        query = query.where(User.email == filters.owner.strip().lower())
    if filters.segment:
        query = query.where(Account.segment == filters.segment)
    if filters.industry:
        query = query.where(Account.industry == filters.industry)
    if filters.q:
        pattern = "%" + filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_"
        ) + "%"
        query = query.where(func.lower(col(Account.name)).like(pattern, escape="\\"))

    expr, descending = _sort_expression(filters.sort)
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort=filters.sort)
        value = _parse_cursor_value(filters.sort, cursor.value)
        if descending:
            query = query.where(
                or_(expr < value, and_(expr == value, col(Account.id) < cursor.last_id))
            )
        else:
            query = query.where(
                or_(expr > value, and_(expr == value, col(Account.id) > cursor.last_id))
            )
    order = (expr.desc(), col(Account.id).desc()) if descending else (expr.asc(), col(Account.id))
    rows = session.exec(query.order_by(*order).limit(page.limit + 1)).all()
    items: list[tuple[Account, User | None]] = [(a, u) for a, u in rows]
    next_cursor = None
    if len(items) > page.limit:
        items = items[: page.limit]
        last = items[-1][0]
        assert last.id is not None
        value = _cursor_value(last, filters.sort)
        next_cursor = encode_cursor(Cursor(filters.sort, value, last.id))
    return AccountPage(items, next_cursor)


# -- contacts --------------------------------------------------------------------------------


def _check_contact_external_id(session: Session, external_id: str, *, exclude: int | None) -> None:
    query = select(Contact).where(Contact.external_id == external_id)
    other = session.exec(query).first()
    if other is not None and other.id != exclude:
        raise Conflict(f"a contact with external_id {external_id!r} already exists")


def create_contact(
    session: Session, *, account_id: str, contact_in: ContactCreate, now: dt.datetime,
    actor: str = "system",
) -> Contact:
    """A new contact on the account; 409 if its external id is taken. Its roles are recorded
    as valid from ``now`` (before it, the contact did not exist)."""
    account = get_account(session, account_id)
    if contact_in.external_id:
        _check_contact_external_id(session, contact_in.external_id, exclude=None)
    assert account.id is not None
    contact = Contact(
        account_id=account.id, **contact_in.model_dump(), created_at=now, updated_at=now
    )
    if contact.email:
        contact.email = contact.email.lower()
    session.add(contact)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a contact with external_id {contact_in.external_id!r} exists") from None
    attribute_history.record_contact(session, contact=contact, before=None, now=now, actor=actor)
    return contact


def get_contact(session: Session, *, account_id: str, contact_id: int) -> Contact:
    """A contact of this account; 404 if it belongs elsewhere or does not exist."""
    account = get_account(session, account_id)
    contact = session.get(Contact, contact_id)
    if contact is None or contact.account_id != account.id or contact.status == "deleted":
        raise NotFound(f"no contact {contact_id} on account {account_id!r}")
    return contact


def update_contact(
    session: Session, *, account_id: str, contact_id: int, contact_in: ContactUpdate,
    now: dt.datetime, actor: str = "system",
) -> Contact:
    """Apply the fields present in ``contact_in``; a change of roles or status is recorded as
    valid from ``now``."""
    contact = get_contact(session, account_id=account_id, contact_id=contact_id)
    before = attribute_history.contact_state(contact)
    changes = contact_in.model_dump(exclude_unset=True)
    for field in ("status", "traits", "is_champion", "is_decision_maker", "is_star_user"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, "must not be null")
    if changes.get("external_id"):
        _check_contact_external_id(session, changes["external_id"], exclude=contact.id)
    if changes.get("email"):
        changes["email"] = changes["email"].lower()
    for field, value in changes.items():
        setattr(contact, field, value)
    contact.updated_at = now
    session.add(contact)
    session.flush()
    attribute_history.record_contact(session, contact=contact, before=before, now=now, actor=actor)
    return contact


def delete_contact(
    session: Session, *, account_id: str, contact_id: int, now: dt.datetime, actor: str = "system"
) -> None:
    """Soft delete: the contact is kept (interactions still name them) but marked deleted, as
    of ``now`` in its history."""
    contact = get_contact(session, account_id=account_id, contact_id=contact_id)
    before = attribute_history.contact_state(contact)
    contact.status = "deleted"
    contact.updated_at = now
    session.add(contact)
    session.flush()
    attribute_history.record_contact(session, contact=contact, before=before, now=now, actor=actor)


def list_contacts(
    session: Session, *, account_id: str, page: PageParams, role: str | None = None,
    status: str | None = None, q: str | None = None,
) -> tuple[list[Contact], str | None]:
    """One page of the account's contacts, oldest first."""
    account = get_account(session, account_id)
    query = select(Contact).where(Contact.account_id == account.id)
    query = query.where(Contact.status == (status or "active"))
    if role:
        flag = {"champion": Contact.is_champion, "decision_maker": Contact.is_decision_maker,
                "star_user": Contact.is_star_user}.get(role)
        if flag is None:
            raise InvalidInput.field(
                "role", "must be one of champion, decision_maker, star_user", "query"
            )
        query = query.where(col(flag).is_(True))
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(col(Contact.name)).like(pattern),
                func.lower(col(Contact.email)).like(pattern))
        )
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort="id")
        query = query.where(col(Contact.id) > cursor.last_id)
    rows = list(session.exec(query.order_by(col(Contact.id)).limit(page.limit + 1)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last_id = rows[-1].id
        assert last_id is not None
        next_cursor = encode_cursor(Cursor("id", last_id, last_id))
    return rows, next_cursor


def count_accounts(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Account)).one()
