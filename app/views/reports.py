"""Customer-facing pages (no sign-in): a report's web view at ``/r/{token}`` and the check-in
answer links at ``/c/{token}``. A bad link gets a friendly page: 403 tampered, 410 gone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from app.deps import NowDep, SessionDep, SettingsDep
from app.errors import BansouError
from app.models import Account
from app.services import checkins, reports
from app.views.i18n import L10n, negotiate
from app.views.templating import render

router = APIRouter()

#: These pages are self-contained: inline styles (the same markup as the email), no scripts, no
#: requests to anywhere, no forms.
CUSTOMER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
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


@router.get("/r/{token}", response_class=HTMLResponse)
def report_page(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                now: NowDep) -> HTMLResponse:
    """The adoption report a customer was sent."""
    try:
        report = reports.report_by_token(session, settings=settings, token=token, now=now)
    except BansouError as exc:
        if exc.status not in (403, 404, 410):
            raise
        return _problem(request, settings, exc)
    reports.record_open(session, report=report, now=now)
    account = session.get(Account, report.account_id)
    assert account is not None
    html = reports.render_web(report, account, tz=settings.tz)
    return HTMLResponse(html, headers=CUSTOMER_HEADERS)


@router.get("/c/{token}", response_class=HTMLResponse)
def checkin_answer(token: str, request: Request, session: SessionDep, settings: SettingsDep,
                   now: NowDep) -> HTMLResponse:
    """Record a check-in answer (first click only) and thank the customer."""
    try:
        answered = checkins.record_answer(session, settings=settings, token=token, now=now)
    except BansouError as exc:
        if exc.status not in (403, 404):
            raise
        return _problem(request, settings, exc)
    l10n = L10n(answered.checkin.language, settings.tz)
    title = l10n.gettext("Thank you for your answer")
    if not answered.first:
        detail = l10n.gettext("We already have your answer; nothing more is needed.")
    elif answered.answer == "problem":
        detail = l10n.gettext("Your customer success manager will call you shortly.")
    else:
        detail = l10n.gettext("Good to hear. We are here if you need anything.")
    return render("report/problem.html",
                  {"language": l10n.language, "title": title, "detail": detail},
                  headers=CUSTOMER_HEADERS)
