"""What every page needs: the reader (user, language, time zone), CSRF, and rendering.

CSRF uses a signed double-submit token: the browser holds a random ``bansou_csrf`` cookie, and
every form and htmx request must send ``HMAC(secret key, cookie | session token)`` back (as the
``csrf_token`` field or the ``X-CSRF-Token`` header, which ``hx-headers`` on ``<body>`` adds).
Another site can make the browser send the cookies but cannot read them to compute the token;
binding the session token in means a token from before sign-in is worthless after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from starlette.responses import Response

from app.config import Settings
from app.deps import SESSION_COOKIE, NowDep, OptionalUserDep, SettingsDep
from app.errors import NotPermitted
from app.i18n import LANGUAGE_NAMES, LANGUAGES, L10n, negotiate
from app.models import User
from app.views import htmx
from app.views.templating import PageResponse, render

CSRF_COOKIE = "bansou_csrf"
CSRF_FIELD = "csrf_token"
#: A signed-out reader's language choice (a signed-in user's is stored on the user).
LANGUAGE_COOKIE = "bansou_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(settings: Settings, seed: str, session_token: str) -> str:
    """The token a form must send back for this browser's cookies."""
    message = f"csrf|{seed}|{session_token}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def secure_cookies(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


@dataclass
class Viewer:
    """The person reading the page, in their language and time zone."""

    request: Request
    user: User | None
    l10n: L10n
    csrf: str
    settings: Settings
    now: dt.datetime
    new_csrf_seed: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def today(self) -> dt.date:
        """Today in the reader's own time zone (dates the reader types and reads)."""
        return self.l10n.today(self.now)

    @property
    def team_today(self) -> dt.date:
        """Today in the team's time zone, which periods, weeks and score days are in."""
        return self.now.astimezone(self.settings.tz).date()

    @property
    def can_edit(self) -> bool:
        return self.user is not None and self.user.role in ("csm", "admin")

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role == "admin"

    @property
    def actor(self) -> str:
        return self.user.email if self.user is not None else "anonymous"

    def _(self, message: str, **variables: Any) -> str:
        return self.l10n.gettext(message, **variables)


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def make_viewer(request: Request, user: User | None, settings: Settings, now: dt.datetime) -> Viewer:
    """The viewer for a request (no database access: ``user`` is already resolved)."""
    if user is not None and user.locale in LANGUAGES:
        language = user.locale
    elif request.cookies.get(LANGUAGE_COOKIE) in LANGUAGES:
        language = request.cookies[LANGUAGE_COOKIE]
    else:
        language = negotiate(request.headers.get("accept-language"))
    tz = _zone(user.timezone if user is not None else None, settings.tz)
    seed = request.cookies.get(CSRF_COOKIE, "")
    new_seed = None
    if len(seed) < 32:
        seed = new_seed = secrets.token_urlsafe(32)
    token = csrf_token(settings, seed, request.cookies.get(SESSION_COOKIE, ""))
    return Viewer(request, user, L10n(language, tz), token, settings, now, new_seed)


def get_viewer(request: Request, user: OptionalUserDep, settings: SettingsDep, now: NowDep) -> Viewer:
    return make_viewer(request, user, settings, now)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def verify_csrf(request: Request, settings: SettingsDep) -> None:
    """Refuse (403) a state-changing request without this browser's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    seed = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(htmx.CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else ""
    expected = csrf_token(settings, seed, request.cookies.get(SESSION_COOKIE, ""))
    if len(seed) < 32 or not given or not hmac.compare_digest(given, expected):
        raise NotPermitted("the form's security token is missing or out of date; reload the page")


def context(viewer: Viewer, values: dict[str, Any]) -> dict[str, Any]:
    """The template context: the page's values plus what the layout needs."""
    l10n = viewer.l10n
    return {
        "request": viewer.request,
        "viewer": viewer,
        "user": viewer.user,
        "l10n": l10n,
        "gettext": l10n.template_gettext,
        "ngettext": l10n.template_ngettext,
        "csrf_token": viewer.csrf,
        "languages": LANGUAGE_NAMES,
        "htmx_version": HTMX_VERSION,
        "url_with": url_with,
        **values,
    }


HTMX_VERSION = "2.0.11"


def finish(viewer: Viewer, response: Response) -> Response:
    """Set the cookies this request created and mark the response as varying on htmx."""
    secure = secure_cookies(viewer.settings)
    if viewer.new_csrf_seed:
        response.set_cookie(CSRF_COOKIE, viewer.new_csrf_seed, httponly=True, samesite="lax",
                            secure=secure, path="/")
    return htmx.vary(response)


def show(
    viewer: Viewer, name: str, values: dict[str, Any], *, block: str | None = None,
    status_code: int = 200,
) -> PageResponse:
    """The whole page for a direct navigation; ``block`` alone for an htmx request."""
    chosen = block if block is not None and htmx.is_htmx(viewer.request) else None
    response = render(name, context(viewer, values), block=chosen, status_code=status_code)
    finish(viewer, response)
    return response


def fragment(
    viewer: Viewer, name: str, values: dict[str, Any], *, block: str, status_code: int = 200,
) -> PageResponse:
    """One block of a page, whoever asks (answers to htmx-only endpoints)."""
    response = render(name, context(viewer, values), block=block, status_code=status_code)
    finish(viewer, response)
    return response


def account_url(external_id: str) -> str:
    """The account's page, its id url-encoded (``q?x`` → ``/accounts/q%3Fx``); templates write
    ``/accounts/{{ id|urlencode }}``."""
    return "/accounts/" + quote(external_id, safe="")


def url_with(path: str, params: dict[str, Any], **changes: Any) -> str:
    """``path`` with the query ``params`` updated by ``changes`` (None or "" drops a key)."""
    merged = {**params, **changes}
    query = urlencode([(k, v) for k, v in merged.items() if v not in (None, "")])
    return f"{path}?{query}" if query else path
