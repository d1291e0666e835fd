"""Errors on the pages: the same domain errors as the API, shown as HTML.

``install`` wraps the app's one dispatcher (``app.errors``): a request for a page gets an HTML
error page (or, from htmx, a notice swapped into the page's toast area), a request not signed in
is sent to the sign-in page, and every other request keeps its problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.errors import BansouError, NotAuthenticated
from app.views import htmx
from app.views.page import context, finish, make_viewer
from app.views.templating import render

log = logging.getLogger("bansou.views")
Handler = Callable[[Request, Exception], Awaitable[Response]]
#: Paths that answer machines: their errors stay problem+json.
MACHINE_PREFIXES = ("/api/", "/v1/", "/healthz", "/readyz", "/openapi.json", "/static/", "/r/")


def wants_html(request: Request) -> bool:
    """A page request from a browser (or htmx), not an API or ingestion call."""
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return (request.headers.get(htmx.HX_REQUEST) == "true"
            or "text/html" in request.headers.get("accept", ""))


def _sign_in_url(request: Request) -> str:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or htmx.is_htmx(request):
        back = request.headers.get("HX-Current-URL") or "/"
        back = "/" + back.split("://", 1)[-1].split("/", 1)[-1] if "://" in back else back
    return f"/login?next={quote(back, safe='/')}"


def html_error(request: Request, status: int, detail: str) -> Response:
    """The error page (or the toast fragment for htmx) in the reader's language."""
    settings = request.app.state.settings
    user = getattr(request.state, "web_user", None) or None
    viewer = make_viewer(request, user, settings, request.app.state.clock())
    values = context(viewer, {"status": status, "detail": detail})
    if htmx.is_htmx(request):
        response = render("components/toast.html", values, block="toast", status_code=status)
        htmx.retarget(response, "#toasts", "innerHTML")
    else:
        response = render("errors/error.html", values, status_code=status)
    finish(viewer, response)
    return response


def install(app: FastAPI) -> None:
    """Give page requests HTML errors; leave every other request to the existing handlers."""
    domain = cast(Handler, app.exception_handlers[BansouError])
    http = cast(Handler, app.exception_handlers[StarletteHTTPException])

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await domain(request, exc)
        assert isinstance(exc, BansouError)
        if isinstance(exc, NotAuthenticated):
            return htmx.redirect(request, _sign_in_url(request))
        if exc.status >= 500:
            log.exception("error on a page", exc_info=exc)
        return html_error(request, exc.status, exc.detail)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await http(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return html_error(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(BansouError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
