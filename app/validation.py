"""Field paths for validation errors: ``data[3].score`` rather than pydantic's ``data.3.score``.

Pydantic puts the tag of a discriminated union into an error's location (``('data', 3,
'nps_response', 'score')``); callers name the field as they sent it, so tags are dropped. The same
paths are used by the API (``FieldPathRoute``) and by the CSV importer, which maps them back to
columns.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from app.errors import FieldError


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
