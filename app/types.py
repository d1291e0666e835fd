"""Input types bounded to what the database can store, shared by every door (path and query
parameters, JSON bodies, forms, CSV rows).

Without them a value the database refuses reaches it and answers 500: an id beyond the column's
range (``/tasks/99999999999999999999999``: SQLite's INTEGER is 64-bit, PostgreSQL's INTEGER
32-bit), a count of ``1e30``, a time whose conversion to UTC leaves the calendar
(``0001-01-01T00:00:01+03:00`` is 31 December of year 0), or a NUL character (PostgreSQL refuses
U+0000 in text and jsonb). Each is a 422 naming the field instead, on both engines alike.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
)

#: PostgreSQL INTEGER (every id column but the ingestion log's and raw events'): -2^31 .. 2^31-1.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: PostgreSQL BIGINT and SQLite INTEGER.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: A row id in a path, query or body: any value an INTEGER id column can hold (an id in range
#: that names no row is a 404, one out of range a 422).
DbId = Annotated[int, Interval(ge=INT32_MIN, le=INT32_MAX)]
#: A row id of a BIGINT id column (the ingestion log, raw events, dead letters): any 64-bit value.
BigDbId = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
#: A whole number stored in an INTEGER column (counts, seats, positions): 0 .. 2^31-1.
Count = Annotated[int, Interval(ge=0, le=INT32_MAX)]

NUL_MESSAGE = "must not contain the NUL character (U+0000)"


def refuse_nul(value: str) -> str:
    """``value``, unless it holds U+0000 (PostgreSQL cannot store it in text)."""
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


#: Use in every string type that reaches a column: ``Annotated[str, StringConstraints(...), NoNul]``.
NoNul = AfterValidator(refuse_nul)


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Where a decoded JSON value holds U+0000, in keys or strings: ``["traits.a", "data[2]"]``."""
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(name)
            found.extend(nul_paths(item, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}[{i}]"))
    return found


def _json_without_nul(value: dict[str, Any]) -> dict[str, Any]:
    bad = nul_paths(value)
    if bad:
        raise ValueError(f"{NUL_MESSAGE} (at {', '.join(bad[:5])})")
    return value


#: A free-form JSON object (traits): stored as jsonb on PostgreSQL, so no U+0000 anywhere in it.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_without_nul)]


#: Why an account id is refused: it is a path segment of the account's page and API
#: (``/accounts/{id}``), and a ``/`` in it (even sent as ``%2F``) would split that segment.
ACCOUNT_ID_SLASH = "must not contain '/' (an account id is part of the account's URL)"
#: ``.`` and ``..`` as a URL segment are path steps: browsers and proxies resolve them away.
ACCOUNT_ID_DOTS = "must not be '.' or '..' (an account id is part of the account's URL)"


def account_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a new account's id, or None when it can."""
    if "/" in value:
        return ACCOUNT_ID_SLASH
    if value in (".", ".."):
        return ACCOUNT_ID_DOTS
    return None


def _account_id(value: str) -> str:
    problem = account_id_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: Applied to a new account's id (an id only naming an existing account is looked up as sent).
NewAccountId = AfterValidator(_account_id)


def to_utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC; refused when that falls outside years 1-9999 (Python's and so ours)."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC (years 1 to 9999)") from None


#: A timezone-aware time (a naive one is refused: its zone would be a guess), kept in UTC.
UTCTime = Annotated[AwareDatetime, AfterValidator(to_utc)]


Segment = Literal["enterprise", "mid_market", "smb"]


AccountStatus = Literal["active", "churned", "deleted"]


ContactStatus = Literal["active", "deleted"]


Role = Literal["admin", "csm", "viewer"]


Scope = Literal["read", "write", "admin"]


ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul]


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul]


PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul]


JobTitle = Annotated[str, StringConstraints(max_length=200), NoNul]


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


_OWNER = "Email of the owning CSM"
#: The CSM who owns an account (or a plan), as a request sets it: an email, or null for nobody.
Owner = Annotated[EmailStr | None, Field(description=_OWNER)]
#: The same owner as a response shows it (as stored, not re-validated).
OwnerPublic = Annotated[str | None, Field(description=_OWNER)]


Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class Strict(BaseModel):
    """The base of every request body: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


#: A short free text (a note, a reason): stripped, 1 to 1000 characters.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
