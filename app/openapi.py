"""The OpenAPI document, made to tell the truth for generated clients.

FastAPI documents what a route declares; Bansō's errors come from its dependencies and the one
error dispatcher (``app.errors``), so the statuses they add are derived here from each route's
dependencies, once, instead of being repeated on every decorator:

- every operation: 422 (validation; a ``Problem`` with ``errors``);
- an API key dependency (``require_*_scope``): 401 and 403;
- the database session: 503 (a busy or unreachable database, with ``Retry-After``);
- a path parameter: 404; a request body: 400 (malformed JSON) and 413 (``BodyLimitMiddleware``);
- an ``If-Match`` header: 412 and 428; an ``Idempotency-Key`` header: 409, and 200 beside a
  201 (a retry with the same key answers with what the first request created).

Every 4xx/5xx answer is ``application/problem+json`` with the shared ``Problem`` schema, which
replaces FastAPI's ``HTTPValidationError``. Operation ids come from the method and the path
(``GET /api/v1/accounts/{account_id}/health`` → ``account_health_get``), so they are short and
stay the same when a function is renamed; a route's own ``operation_id=`` wins (for the rare
two paths the rule would name alike).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.deps import get_session
from app.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "description": "An RFC 9457 problem. Some problems add fields (e.g. `current`, `etag`).",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "`urn:bansou:problem:<slug>` or `about:blank`"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string", "description": "The request's path"},
            "request_id": {"type": "string", "description": "Quote it when reporting a problem"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemError"},
                "description": "Each bad field (validation) or row (CSV import)",
            },
        },
        "additionalProperties": True,
    },
    "ProblemError": {
        "title": "ProblemError",
        "type": "object",
        "required": ["message"],
        "properties": {
            "field": {"type": "string"},
            "location": {"type": "string", "description": "body, query, path or header"},
            "message": {"type": "string"},
            "row": {"type": "integer", "description": "CSV imports: the spreadsheet row"},
            "column": {"type": ["string", "null"], "description": "CSV imports: the column"},
        },
        "additionalProperties": True,
    },
}

#: What each derived status means, where the route itself says nothing more precise.
DESCRIPTIONS = {
    400: "Malformed JSON body",
    401: "No API key, or an unknown or revoked one",
    403: "The API key's scope is too small",
    404: "Not found",
    409: "Conflict (e.g. an idempotency key reused with a different request)",
    412: "Stale If-Match",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid input; `errors` names each field",
    428: "If-Match is required",
    429: "Too many requests; retry after `Retry-After` seconds",
    500: "Internal server error",
    503: "The database is busy or unreachable, or the service is overloaded; retry after "
    "`Retry-After` seconds",
}

#: The name ``app.deps.require_scope`` gives each of its dependencies.
_SCOPE = re.compile(r"require_(\w+)_scope")
_PARAM = re.compile(r"^\{\w+\}$")
_VERBS = {"GET": "get", "PUT": "replace", "PATCH": "update", "DELETE": "delete", "POST": "create"}


def walk_dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from walk_dependants(sub)


def derived_statuses(route: Any) -> set[int]:
    """The error statuses a route can answer because of its dependencies and parameters."""
    statuses = {422}
    for dep in walk_dependants(route.dependant):
        name = getattr(dep.call, "__name__", "")
        if _SCOPE.fullmatch(name):
            statuses |= {401, 403}
        if dep.call is get_session:
            statuses.add(503)
        if dep.path_params:
            statuses.add(404)
        if dep.body_params:
            statuses |= {400, 413}
        headers = {(p.alias or p.name).lower() for p in dep.header_params}
        if "if-match" in headers:
            statuses |= {412, 428}
        if "idempotency-key" in headers:
            statuses.add(409)
    return statuses


def _singular(word: str) -> str:
    word = word.replace("-", "_")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _is_list(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    for status in ("200", "201"):
        content = operation.get("responses", {}).get(status, {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            return True
        ref = schema.get("$ref", "")
        if ref:
            props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
            return props.get("data", {}).get("type") == "array"
    return False


def operation_id(method: str, path: str, operation: dict[str, Any], schemas: dict[str, Any]) -> str:
    """``accounts_list``, ``account_get``, ``account_health_get``, ``task_complete``, ...

    A segment followed by a path parameter names one thing (singular). A path ending in a
    parameter takes the method's verb; a POST to a path ending in a word is an action named by
    that word, unless it creates (201); a GET of a word is ``list`` when it answers a list.
    """
    prefix = "segment" if path.startswith("/v1/") else ""
    parts = [p for p in path.removeprefix("/api/v1/").removeprefix("/v1/").split("/") if p]
    words = [prefix] if prefix else []
    for i, part in enumerate(parts):
        if _PARAM.match(part):
            continue
        followed = i + 1 < len(parts) and _PARAM.match(parts[i + 1])
        words.append(_singular(part) if followed else part.replace("-", "_"))
    method = method.upper()
    if parts and _PARAM.match(parts[-1]):
        words.append(_VERBS[method])
    elif method == "GET":
        words.append("list" if _is_list(operation, schemas) else "get")
    elif method == "POST":
        if "201" in operation.get("responses", {}) or len(words) == 1:
            words.append("create")
    else:
        words.append(_VERBS[method])
    return "_".join(words)


def _replace_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == old:
            node["$ref"] = new
        for value in node.values():
            _replace_refs(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _replace_refs(value, old, new)


def refine(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the derived error responses, the ``Problem`` schema and short operation ids."""
    components = schema.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(PROBLEM_SCHEMAS)
    _replace_refs(schema, "#/components/schemas/HTTPValidationError", PROBLEM_REF["$ref"])

    derived: dict[tuple[str, str], set[int]] = {}
    explicit: dict[tuple[str, str], str] = {}
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute) and ctx.include_in_schema:
            for method in ctx.methods or ():
                key = (method.lower(), str(ctx.path_format))
                derived[key] = derived_statuses(ctx)
                if ctx.original_route.operation_id:
                    explicit[key] = ctx.original_route.operation_id

    seen: dict[str, str] = {}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code in derived.get((method, path), {422}):
                responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
            if 409 in derived.get((method, path), ()) and "201" in responses:
                replay = {
                    **responses["201"],
                    "description": "A retry with the same Idempotency-Key: what the first request created",
                }
                responses.setdefault("200", replay)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}
                    response.setdefault("description", DESCRIPTIONS.get(int(status), "Error"))
            operation["responses"] = dict(sorted(responses.items()))
            op_id = explicit.get((method, path)) or operation_id(method, path, operation, schemas)
            where = f"{method.upper()} {path}"
            if op_id in seen:
                raise ValueError(f"operation id {op_id!r} of {where} is also {seen[op_id]}'s")
            seen[op_id] = where
            operation["operationId"] = op_id
    return schema


def install(app: FastAPI) -> None:
    """Serve the refined document from ``app.openapi()`` (and so from ``/openapi.json``)."""
    plain = app.openapi
    refined: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = plain()
        if not refined or refined[0] is not schema:
            refined[:] = [refine(app, schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
