"""Every error of the app, and the one dispatcher that renders every error as RFC 9457
problem+json.

Services and routes raise these; they never raise ``HTTPException``::

    BansouError (500)
     ├── BadRequest (400)         a body that is not what the endpoint reads (not JSON, not an object)
     ├── NotAuthenticated (401)   no credentials, or credentials we do not accept
     ├── NotPermitted (403)       authenticated, but the scope or role is too small
     ├── NotFound (404)
     ├── Conflict (409)           e.g. an external id that is already taken
     ├── Gone (410)               an adoption report's link that was withdrawn or has expired
     ├── PreconditionFailed (412) a stale If-Match
     ├── PreconditionRequired (428) a write that should have sent If-Match
     ├── PayloadTooLarge (413)
     ├── InvalidInput (422)       a domain rule broken; names each field in ``errors``
     ├── ImportRejected (422)     an all-or-nothing import with bad rows; carries the import's report
     ├── Busy (503)               lost a race for the database's locks; nothing was written; retry
     ├── Overloaded (503)         ingestion: too many requests in flight, or too long a backlog
     └── IngestUnavailable (503)  ingestion: the database is locked or restarting; nothing was logged

The others are never rendered: each is caught where it is raised, or turned into one of the above::

    ConfigError (ValueError)         settings that must not be used to start Bansō
    TooManyAttempts, BadCredentials  a refused sign-in (the sign-in page says why)
    Rejected (ValueError)            a Segment message we will not accept (the batch reports it)
    WriteLockTaken                   the ingestion writer's turn to write is taken right now
    WriteLockTimeout (OperationalError) ...and stayed taken past the busy timeout
    BodyTooLarge                     a request body over the limit, cut short by the middleware
    MailTransient, MailUnavailable, MailPermanent  how an SMTP delivery failed (the outbox sorts)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.headers import SECURITY_HEADERS

log = logging.getLogger("bansou.errors")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is (``body``, ``query``, ``path``, ``header``), its name, why."""

    field: str
    message: str
    location: str = "body"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "location": self.location, "message": self.message}


class BansouError(Exception):
    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class NotAuthenticated(BansouError):
    status = 401
    slug = "not-authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str | None = None, *, scheme: str = "Bearer", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["WWW-Authenticate"] = scheme


class NotPermitted(BansouError):
    status = 403
    slug = "not-permitted"
    title = "Not permitted"


class NotFound(BansouError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(BansouError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(BansouError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PreconditionRequired(BansouError):
    """A write without ``If-Match``: the server cannot tell a stale client from a fresh one."""

    status = 428
    slug = "precondition-required"
    title = "Precondition required"


class PayloadTooLarge(BansouError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class InvalidInput(BansouError):
    status = 422
    slug = "validation-error"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def field(cls, field: str, message: str, location: str = "body") -> InvalidInput:
        return cls([FieldError(field, message, location)])


class BadRequest(BansouError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class Gone(BansouError):
    status = 410
    slug = "gone"
    title = "Gone"


class ImportRejected(BansouError):
    """An all-or-nothing import with bad rows: nothing was written; the report says why."""

    status = 422
    slug = "import-rejected"
    title = "Import rejected"

    def __init__(self, detail: str, report: dict[str, Any]) -> None:
        super().__init__(detail, **report)


class Busy(BansouError):
    """A concurrent write held the locks this one needed; nothing was written; retry."""

    status = 503
    slug = "busy"
    title = "Busy"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "the database is busy with a concurrent write; retry shortly")
        self.headers["Retry-After"] = "1"


#: Seconds a Segment SDK is told to wait before retrying a refused batch.
INGEST_RETRY_AFTER = "2"


class Overloaded(BansouError):
    """Ingestion: too many requests in flight, or a backlog the applier has not caught up with."""

    status = 503
    slug = "overloaded"
    title = "Overloaded"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = INGEST_RETRY_AFTER


class IngestUnavailable(BansouError):
    """Ingestion: a lock timeout or a database restarting; nothing was logged and the SDK retries."""

    status = 503
    slug = "unavailable"
    title = "Temporarily unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "the database is busy; retry shortly")
        self.headers["Retry-After"] = INGEST_RETRY_AFTER


#: PostgreSQL states that mean "lost a race for a lock": serialization, deadlock, lock timeout.
_CONTENTION_STATES = frozenset({"40001", "40P01", "55P03"})


@contextmanager
def contention_is_busy() -> Iterator[None]:
    """Re-raise lock contention inside the block as ``Busy``; other errors pass through.

    On SQLite a transaction that read before a concurrent writer committed can no longer write
    (``database is locked``); on PostgreSQL a serialization failure, deadlock or lock timeout ends
    the transaction. Nothing was written in either case, and the operations wrapped here are
    idempotent, so the answer is ``503`` with ``Retry-After``.
    """
    try:
        yield
    except OperationalError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) in _CONTENTION_STATES or "database is locked" in str(orig).lower():
            raise Busy() from exc
        raise


# -- errors never rendered: caught where they are raised ----------------------------------------


class ConfigError(ValueError):
    """Settings that must not be used to start Bansō."""


class TooManyAttempts(Exception):
    """Sign-in refused without checking the password: too many recent failures."""

    def __init__(self, retry_after: dt.timedelta) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_after = retry_after


class BadCredentials(Exception):
    """The email and password do not match an active user."""


class Rejected(ValueError):
    """A Segment message we will not accept; the text says why, for the sender's error log."""


class WriteLockTaken(Exception):
    """SQLite's write lock (or the process's write turn) is taken right now."""


class WriteLockTimeout(OperationalError):
    """SQLite's write lock stayed taken for longer than the busy timeout."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"the database stayed locked for {waited:.1f} s", None, Exception("busy"))


class BodyTooLarge(Exception):
    """A request body went over the limit while the app was reading it."""


class MailTransient(Exception):
    """Try again later: the server was unreachable or answered 4xx."""


class MailUnavailable(MailTransient):
    """The server could not be reached, timed out, dropped us or answered 421: nothing is wrong
    with the message."""


class MailPermanent(Exception):
    """Do not retry: the server answered 5xx (the message says what it said)."""


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 response. ``type`` is a stable URN per kind of problem."""
    body: dict[str, Any] = {
        "type": f"urn:bansou:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> tuple[str, str]:
    location = str(loc[0]) if loc else "body"
    parts = [str(p) for p in loc[1:]]
    return location, ".".join(parts) if parts else location


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        location, field = _field_name(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            message = f"malformed JSON: {err.get('ctx', {}).get('error', message)}"
        out.append(FieldError(field, message, location))
    return out


async def _on_bansou_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BansouError)
    extra = dict(exc.extra)
    if isinstance(exc, InvalidInput):
        extra["errors"] = [e.as_dict() for e in exc.errors]
    if exc.status == 503:
        log.warning("%s: %s", exc.title, exc.detail)
    elif exc.status >= 500:
        log.exception("unhandled domain error", exc_info=exc)
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        request=request,
        headers=exc.headers,
        **extra,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    malformed = [e for e in errors if e.message.startswith("malformed JSON")]
    if malformed:
        return problem(
            400,
            "Malformed request body",
            malformed[0].message,
            slug="malformed-json",
            request=request,
        )
    return problem(
        422,
        InvalidInput.title,
        "; ".join(f"{e.field}: {e.message}" for e in errors),
        slug=InvalidInput.slug,
        request=request,
        errors=[e.as_dict() for e in errors],
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    from http import HTTPStatus

    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, title, detail, request=request, headers=headers)


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"request_id": request_id, "path": request.url.path},
    )
    # Starlette renders crashes outside every middleware, so this response would otherwise lack
    # the request id header and the security headers the other responses get on the way out.
    headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
    headers["X-Request-ID"] = request_id
    return problem(
        500,
        BansouError.title,
        f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
        slug=BansouError.slug,
        request=request,
        headers=headers,
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """The database is locked by a concurrent writer, or unreachable: nothing was written, and
    the client may retry (503 with Retry-After)."""
    assert isinstance(exc, OperationalError)
    state = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig).lower()
    if state in _CONTENTION_STATES or "database is locked" in text or "busy" in text:
        detail = "the database is busy with a concurrent write; retry shortly"
        slug = "busy"
    else:
        detail = "the database is not reachable right now; retry shortly"
        slug = "database-unavailable"
    log.warning("database error answered with 503: %s", text[:200])
    return problem(
        503,
        "Service unavailable",
        detail,
        slug=slug,
        request=request,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the dispatcher for domain errors, validation, HTTP errors and crashes."""
    app.add_exception_handler(BansouError, _on_bansou_error)
    app.add_exception_handler(OperationalError, _on_database_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unhandled)
