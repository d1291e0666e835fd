"""Request and response bodies for users and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.types import Role, Scope, Strict


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    locale: str
    is_active: bool
    created_at: dt.datetime


class ApiKeyCreate(Strict):
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
