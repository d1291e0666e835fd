"""Field paths for validation errors: ``data[3].score`` rather than pydantic's ``data.3.score``.

Pydantic puts the tag of a discriminated union into an error's location (``('data', 3,
'nps_response', 'score')``); callers name the field as they sent it, so tags are dropped. The same
paths are used by the API (``FieldPathRoute``) and by the CSV importer, which maps them back to
columns. ``refuse_nul_input`` is the one door rule for U+0000, named by the same paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from app.errors import FieldError
from app.types import NUL_MESSAGE, nul_paths


@dataclass(frozen=True)
class UnionTags:
    """Where pydantic puts union tags in a location: ``lead`` at its start, one set per nested
    union (e.g. single-or-batch, then the interaction type), and ``item`` after a list index."""

    lead: tuple[frozenset[str], ...] = ()
    item: frozenset[str] = frozenset()


NO_TAGS = UnionTags()


def field_path(loc: Sequence[Any], *, tags: UnionTags = NO_TAGS) -> str:
    """``('data', 3, 'nps_response', 'score')`` → ``data[3].score``, dropping union tags."""
    out = ""
    expected: list[frozenset[str]] = list(tags.lead)
    for part in loc:
        if expected and isinstance(part, str) and part in expected[0]:
            expected.pop(0)
            continue
        expected = []
        if isinstance(part, int):
            out += f"[{part}]"
            expected = [tags.item] if tags.item else []
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: Any) -> str:
    if err.get("type") == "union_tag_not_found":
        return "field required"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def _loc(err: Any) -> tuple[Any, ...]:
    loc = tuple(err.get("loc", ()))
    if err.get("type") in ("union_tag_not_found", "union_tag_invalid"):
        discriminator = (err.get("ctx") or {}).get("discriminator", "")
        loc = (*loc, discriminator.strip("'")) if discriminator else loc
    return loc


def field_errors(exc: ValidationError, *, tags: UnionTags = NO_TAGS) -> list[FieldError]:
    """The errors of a pydantic validation, each named by its field path."""
    return [
        FieldError(field_path(_loc(err), tags=tags) or "body", _message(err))
        for err in exc.errors()
    ]


def route_class(tags: UnionTags) -> type[APIRoute]:
    """An ``APIRoute`` whose body validation errors name fields as ``data[3].score``."""

    class FieldPathRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    raise RequestValidationError(
                        [_renamed(err, tags) for err in exc.errors()], body=exc.body
                    ) from None

            return handle

    return FieldPathRoute


def _renamed(err: Any, tags: UnionTags) -> Any:
    loc = _loc(err)
    if not loc or loc[0] != "body" or err.get("type") == "json_invalid":
        return err
    path = field_path(loc[1:], tags=tags)
    return {**err, "loc": ("body", path) if path else ("body",), "msg": _message(err)}


#: Paths whose routes check their own input: Segment answers a bad message inside its batch.
_OWN_CHECKS = ("/v1/",)


async def refuse_nul_input(request: Request) -> None:
    """422 naming every path parameter, query parameter, form field or JSON field (at any depth,
    keys included) that holds U+0000: PostgreSQL cannot store it in text or jsonb, and every
    string of a request may end up in one. One rule for every door, typed field or not."""
    if request.url.path.startswith(_OWN_CHECKS):
        return
    errors: list[dict[str, Any]] = []

    def refuse(location: str, field: str) -> None:
        errors.append({"type": "value_error", "loc": (location, field), "msg": NUL_MESSAGE,
                       "input": None})

    for name, value in request.path_params.items():
        if "\x00" in str(value):
            refuse("path", name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            refuse("query", name)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        raw = await request.body()
        if b"\\u0000" in raw:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = None  # malformed: the body's own validation says so
            for path in nul_paths(decoded):
                refuse("body", path or "body")
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in (await request.form()).multi_items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                refuse("body", name)
    if errors:
        raise RequestValidationError(errors)
