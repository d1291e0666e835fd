"""Customer-facing pages (no sign-in): a report's web view at ``/r/{token}`` and the check-in
answer links at ``/c/{token}``. A bad link gets a friendly page: 403 tampered, 410 gone.

Mail security scanners open (GET, sometimes HEAD) every link of a message before the reader does.
So a check-in link's GET only shows the answer preselected with one confirm button; the answer is
recorded by that form's POST. The signed token in the URL is the authority for the POST (no
cookie is involved, so there is nothing for a cross-site request to borrow), which is why these
two routes sit on ``answers_router``, outside the signed-in pages' CSRF check. Opening a report
link does count as the customer's click (``email_click``, first opening only): a scanner that
opens it first counts as that click. We accept that inflation of the response rate rather than
put a confirm step in front of the report itself; HEAD requests, and openings by a signed-in user
(a CSM checking the link), are not counted.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse

from app.config import Settings
from app.deps import NowDep, OptionalUserDep, SessionDep, SettingsDep, writes_on_read
from app.errors import BansouError
from app.i18n import L10n, negotiate
from app.reports import checkins
from app.reports import service as reports
from app.views.templating import render

router = APIRouter()
answers_router = APIRouter()

#: These pages are self-contained: inline styles (the same markup as the email), no scripts, no
#: requests to anywhere, no forms (the check-in page's one form posts back to itself).
CUSTOMER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
CHECKIN_HEADERS = {
    **CUSTOMER_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


def _problem(request: Request, settings: SettingsDep, exc: BansouError) -> HTMLResponse:
    l10n = L10n(negotiate(request.headers.get("accept-language")), settings.tz)
    if exc.status == 410:
        title = l10n.gettext("This link is no longer available")
        detail = l10n.gettext("It has expired or was withdrawn. Ask your contact for a new one.")
    else:
        title = l10n.gettext("This link is not valid")
        detail = l10n.gettext("Please check that you copied the whole link from the email.")
    return render("report/problem.html",
                  {"language": l10n.language, "title": title, "detail": detail},
                  status_code=exc.status, headers=CUSTOMER_HEADERS)


@router.api_route("/r/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
@writes_on_read  # the customer's first opening is recorded
def report_page(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                now: NowDep, user: OptionalUserDep) -> HTMLResponse:
    """The adoption report a customer was sent (a signed-in user opening it is not the
    customer's click)."""
    try:
        report = reports.report_by_token(session, settings=settings, token=token, now=now)
    except BansouError as exc:
        if exc.status not in (403, 404, 410):
            raise
        return _problem(request, settings, exc)
    if request.method == "GET" and user is None:
        reports.record_open(session, report=report, now=now)
    html = reports.render_web(session, report, tz=settings.tz)
    return HTMLResponse(html, headers=CUSTOMER_HEADERS)


@answers_router.api_route("/c/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def checkin_page(token: str, request: Request, session: SessionDep,
                 settings: SettingsDep) -> HTMLResponse:
    """The answer the customer clicked, preselected, with one button to confirm it (nothing is
    recorded by opening the link)."""
    return _checkin_form(token, request, session, settings, status_code=200)


def _checkin_form(token: str, request: Request, session: Any, settings: Settings, *,
                  status_code: int) -> HTMLResponse:
    try:
        asked = checkins.read_link(session, settings=settings, token=token)
    except BansouError as exc:
        if exc.status not in (403, 404):
            raise
        return _problem(request, settings, exc)
    l10n = L10n(asked.checkin.language, settings.tz)
    if asked.checkin.answer is not None:
        return _thanks(l10n, asked.checkin.answer, first=False)
    return render("report/checkin.html", {
        "language": l10n.language, "gettext": l10n.template_gettext, "l10n": l10n,
        "chosen": asked.answer, "answers": checkins.CHECKIN_ANSWERS, "action": f"/c/{token}",
    }, status_code=status_code, headers=CHECKIN_HEADERS)


@answers_router.post("/c/{token}", response_class=HTMLResponse)
def checkin_answer(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                   now: NowDep, answer: Annotated[str | None, Form()] = None) -> HTMLResponse:
    """Record the confirmed answer (the first one only) and thank the customer."""
    try:
        answered = checkins.record_answer(session, settings=settings, token=token, now=now,
                                          answer=answer or None)
    except BansouError as exc:
        if exc.status == 422:
            return _checkin_form(token, request, session, settings, status_code=422)
        if exc.status not in (403, 404):
            raise
        return _problem(request, settings, exc)
    return _thanks(L10n(answered.checkin.language, settings.tz), answered.answer,
                   first=answered.first)


def _thanks(l10n: L10n, answer: str, *, first: bool) -> HTMLResponse:
    title = l10n.gettext("Thank you for your answer")
    if not first:
        detail = l10n.gettext("We already have your answer; nothing more is needed.")
    elif answer == "problem":
        detail = l10n.gettext("Your customer success manager will call you shortly.")
    else:
        detail = l10n.gettext("Good to hear. We are here if you need anything.")
    return render("report/problem.html",
                  {"language": l10n.language, "title": title, "detail": detail},
                  headers=CUSTOMER_HEADERS)
