"""Opaque cursors for keyset pagination: ``(sort key, last sort value, last id)``, base64url JSON.

Keyset (not offset) pagination keeps pages stable while rows are added and costs the same on page
1 and page 1,000.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Cursor:
    sort: str
    value: Any
    last_id: int


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.sort, cursor.value, cursor.last_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, *, sort: str) -> Cursor:
    """Parse a cursor from ``next_cursor``; 422 naming ``cursor`` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        sort_key, value, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None
    if not isinstance(last_id, int) or not isinstance(sort_key, str):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query")
    if sort_key != sort:
        raise InvalidInput.field(
            "cursor", f"this cursor belongs to sort={sort_key}; keep the sort while paging", "query"
        )
    return Cursor(sort_key, value, last_id)


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor or None)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None
