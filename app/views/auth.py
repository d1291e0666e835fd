"""Sign-in, sign-out and the language and time-zone preferences."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from app.auth import web_auth
from app.deps import SESSION_COOKIE, CurrentUserDep, NowDep, SessionDep
from app.errors import BadCredentials, InvalidInput, TooManyAttempts
from app.i18n import LANGUAGES
from app.views import htmx
from app.views.page import LANGUAGE_COOKIE, ViewerDep, secure_cookies, show

router = APIRouter()


def safe_next(value: str | None) -> str:
    """A same-site path to go back to after sign-in (anything else → the portfolio).

    Browsers read a backslash as a slash and drop tabs and line breaks inside URLs, so
    ``/\\evil.example`` or ``/<tab>/evil.example`` would leave the site (``HX-Redirect`` hands the
    value to the browser as it is): any such character sends the user to the portfolio."""
    if not value or any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(viewer: ViewerDep, next: str | None = None) -> Response:
    """The sign-in form (a signed-in user goes straight on)."""
    if viewer.user is not None:
        return htmx.redirect(viewer.request, safe_next(next))
    return show(viewer, "auth/login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login")
def login(
    viewer: ViewerDep, session: SessionDep, now: NowDep,
    email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password (throttled), start a session and go on; 401/429 re-show the form."""
    _ = viewer._
    try:
        signed_in = web_auth.sign_in(session, email=email, password=password,
                                     ip=_client_ip(viewer.request), now=now)
    except TooManyAttempts as exc:
        minutes = max(1, int(exc.retry_after.total_seconds() // 60) + 1)
        error = _("Too many failed sign-ins. Try again in %(minutes)s minutes.", minutes=minutes)
        response = show(viewer, "auth/login.html",
                        {"next": safe_next(next), "email": email, "error": error},
                        block="form", status_code=429)
        response.headers["Retry-After"] = str(minutes * 60)
        return response
    except BadCredentials:
        error = _("The email or password is not right.")
        return show(viewer, "auth/login.html",
                    {"next": safe_next(next), "email": email, "error": error},
                    block="form", status_code=401)
    done = htmx.redirect(viewer.request, safe_next(next))
    done.set_cookie(
        SESSION_COOKIE, signed_in.token, httponly=True, samesite="lax",
        secure=secure_cookies(viewer.settings), path="/",
        max_age=int(web_auth.MAX_AGE.total_seconds()),
    )
    done.delete_cookie(LANGUAGE_COOKIE, path="/")
    return done


@router.post("/logout")
def logout(viewer: ViewerDep, session: SessionDep) -> Response:
    """End the session and show the sign-in page."""
    web_auth.sign_out(session, token=viewer.request.cookies.get(SESSION_COOKIE, ""))
    response = htmx.redirect(viewer.request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/preferences")
def preferences(
    viewer: ViewerDep, session: SessionDep, now: NowDep,
    language: Annotated[str | None, Form()] = None,
    timezone: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Switch the language (and time zone): stored on the user, or in a cookie before sign-in."""
    if language is not None and language not in LANGUAGES:
        raise InvalidInput.field("language", f"must be one of {', '.join(LANGUAGES)}")
    response = htmx.redirect(viewer.request, safe_next(next))
    if viewer.user is not None:
        web_auth.set_preferences(session, user=viewer.user, locale=language, timezone=timezone,
                                 now=now)
    elif language is not None:
        response.set_cookie(LANGUAGE_COOKIE, language, httponly=True, samesite="lax",
                            secure=secure_cookies(viewer.settings), path="/",
                            max_age=365 * 24 * 3600)
    return response


@router.get("/me")
def me(user: CurrentUserDep, viewer: ViewerDep) -> Response:
    """The signed-in user's own settings: language and time zone."""
    import zoneinfo

    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc"))
    return show(viewer, "auth/me.html", {"zones": zones})
