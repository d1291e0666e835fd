"""Request and response bodies of the JSON API (the public contract in DESIGN.md).

An account's public ``id`` is its external id; database ids never leave the server for accounts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, PlainSerializer, StringConstraints

from app.bounds import Count, JsonObject, NewAccountId, NoNul

Segment = Literal["enterprise", "mid_market", "smb"]
AccountStatus = Literal["active", "churned", "deleted"]
ContactStatus = Literal["active", "deleted"]
Role = Literal["admin", "csm", "viewer"]
Scope = Literal["read", "write", "admin"]

ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul
]
#: Free text stored in a column of ``max_length`` characters.
Label100 = Annotated[str, StringConstraints(max_length=100), NoNul]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul]
JobTitle = Annotated[str, StringConstraints(max_length=200), NoNul]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_Strict):
    id: Annotated[ExternalId, NewAccountId] = Field(
        description="External id (the Segment groupId); unique; no `/`"
    )
    name: Name
    industry: Label100 | None = None
    segment: Segment | None = None
    plan: Label100 | None = None
    licensed_seats: Count | None = None
    arr: Money = Decimal(0)
    currency: Currency = "JPY"
    contract_start_on: dt.date | None = None
    renewal_on: dt.date | None = None
    status: Literal["active", "churned"] = "active"
    churned_on: dt.date | None = None
    owner: EmailStr | None = Field(default=None, description="Email of the owning CSM")
    traits: JsonObject = Field(default_factory=dict)


class AccountUpdate(_Strict):
    """Fields to change; omitted fields stay as they are, ``null`` clears a nullable field."""

    name: Name | None = None
    industry: Label100 | None = None
    segment: Segment | None = None
    plan: Label100 | None = None
    licensed_seats: Count | None = None
    arr: Money | None = None
    currency: Currency | None = None
    contract_start_on: dt.date | None = None
    renewal_on: dt.date | None = None
    status: Literal["active", "churned"] | None = None
    churned_on: dt.date | None = None
    owner: EmailStr | None = None
    traits: JsonObject | None = None


class AccountPublic(BaseModel):
    id: str
    name: str
    industry: str | None
    segment: str | None
    plan: str | None
    licensed_seats: int | None
    arr: Money
    currency: str
    contract_start_on: dt.date | None
    renewal_on: dt.date | None
    status: AccountStatus
    churned_on: dt.date | None
    owner: str | None = Field(description="Email of the owning CSM")
    traits: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactCreate(_Strict):
    external_id: ExternalId | None = Field(
        default=None, description="The product's user id (Segment userId); unique"
    )
    email: EmailStr | None = None
    name: PersonName | None = None
    title: JobTitle | None = None
    is_champion: bool = False
    is_decision_maker: bool = False
    is_star_user: bool = False
    traits: JsonObject = Field(default_factory=dict)


class ContactUpdate(_Strict):
    external_id: ExternalId | None = None
    email: EmailStr | None = None
    name: PersonName | None = None
    title: JobTitle | None = None
    is_champion: bool | None = None
    is_decision_maker: bool | None = None
    is_star_user: bool | None = None
    status: ContactStatus | None = None
    traits: JsonObject | None = None


class ContactPublic(BaseModel):
    id: int
    account_id: str
    external_id: str | None
    email: str | None
    name: str | None
    title: str | None
    is_champion: bool
    is_decision_maker: bool
    is_star_user: bool
    status: ContactStatus
    traits: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    locale: str
    is_active: bool
    created_at: dt.datetime


class ApiKeyCreate(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scope: Scope


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret; shown once, never again")
