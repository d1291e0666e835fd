"""Send adoption summary: the account page's panel, the compose page with its preview, the send,
and the account's scheduled sends (csm and admin; viewers see no panel).

The preview is the compose page (``/accounts/{id}/adoption-summary``), not a swap inside the
account page: the email is styled inline, as emails must be, and its sandboxed ``srcdoc`` frame
inherits the policy of the page around it. The account page's policy forbids inline styles, so
the compose page carries the outbox's preview policy (inline styles allowed, scripts still
forbidden); on it, "Update preview" swaps the preview in place with htmx, or reloads it without.

Sending is idempotent: the compose page carries a send key, and the same key sends once (a double
click, a retried POST, the back button and Send again all name the first report).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from starlette.responses import Response

from app.accounts import service as accounts_svc
from app.deps import EditorUserDep, NowDep, OutboxKickDep, SessionDep
from app.errors import InvalidInput, NotFound
from app.i18n import LANGUAGE_NAMES
from app.reports import service as reports_svc
from app.types import DbId
from app.views import htmx
from app.views.account_page import DEFAULT_LANGUAGE, default_form, page_context, send_report_context
from app.views.outbox import PREVIEW_CSP
from app.views.page import Viewer, ViewerDep, account_url, show

router = APIRouter()
PANEL = "accounts/_send_report.html"
COMPOSE = "accounts/send_report.html"

#: Where a service's field name shows up on the forms.
_FIELDS = {
    "from": "period",
    "to": "period",
    "message": "message",
    "language": "language",
    "contact_ids": "recipients",
    "emails": "recipients",
    "key": "recipients",
    "recipients": "recipients",
    "cadence": "cadence",
    "day_of_month": "day_of_month",
}


def _account(session: Any, external_id: str) -> Any:
    account = accounts_svc.get_account(session, external_id)
    if account.status == "deleted":
        raise NotFound(f"no account with id {external_id!r}")
    return account


def _field_errors(viewer: Viewer, exc: InvalidInput) -> dict[str, str]:
    _ = viewer._
    messages = {
        "period": _("Enter a period whose start is not after its end, 400 days at most."),
        "message": _("The message is too long (at most 5,000 characters)."),
        "language": _("Choose the language of the email."),
        "recipients": _("Choose at least one recipient among the account's contacts."),
        "cadence": _("Choose monthly or quarterly."),
        "day_of_month": _("Choose a day between 1 and 28."),
    }
    errors: dict[str, str] = {}
    for fe in exc.errors:
        name = _FIELDS.get(fe.field.split("[")[0], "recipients")
        errors[name] = messages[name]
    return errors


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _bad_dates(form: dict[str, Any], start: dt.date | None, end: dt.date | None) -> bool:
    """A period date was typed but is not a date (an empty one is the default period's)."""
    return bool((form["start"].strip() and start is None) or (form["end"].strip() and end is None))


# -- compose, preview, send ----------------------------------------------------------------------


def _compose(
    viewer: Viewer,
    session: Any,
    account: Any,
    form: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The compose page: the form as given and, when it is valid, exactly what would be sent."""
    choices = reports_svc.recipient_choices(session, account_id=account.external_id)
    preview = None
    errors = dict(errors or {})
    start, end = _date(form["start"]), _date(form["end"])
    if _bad_dates(form, start, end):
        errors["period"] = viewer._("Enter the period's dates as shown (year-month-day).")
    if set(errors) <= {"recipients"}:  # a missing recipient does not change the email
        try:
            preview = reports_svc.preview_report(
                session,
                settings=viewer.settings,
                account_id=account.external_id,
                start=start,
                end=end,
                language=form["language"],
                message=form["message"].strip() or None,
                now=viewer.now,
            )
        except InvalidInput as exc:
            errors.update(_field_errors(viewer, exc))
    if errors and status_code == 200:
        status_code = 422
    chosen = set(form["recipients"])
    response = show(
        viewer,
        COMPOSE,
        {
            "account": account,
            "form": form,
            "choices": choices,
            "errors": errors,
            "preview": preview,
            "languages": LANGUAGE_NAMES,
            "to": [c for c, _ in choices if c.id in chosen],
        },
        block="compose",
        status_code=status_code,
    )
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


def _submitted(
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = DEFAULT_LANGUAGE,
    message: Annotated[str, Form()] = "",
    recipients: Annotated[list[int] | None, Form()] = None,
    key: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    """The send form's fields as submitted (the same for the preview and the send)."""
    return {
        "start": start,
        "end": end,
        "language": language,
        "message": message,
        "recipients": recipients or [],
        "key": key or uuid.uuid4().hex,
    }


SubmittedDep = Annotated[dict[str, Any], Depends(_submitted)]


@router.get("/accounts/{account_id}/adoption-summary")
def compose_page(account_id: str, user: EditorUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """Compose an adoption summary: last month to the champions, previewed."""
    account = _account(session, account_id)
    choices = reports_svc.recipient_choices(session, account_id=account.external_id)
    return _compose(viewer, session, account, default_form(viewer, choices))


@router.post("/accounts/{account_id}/adoption-summary/preview")
def preview(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    form: SubmittedDep,
) -> Response:
    """The compose page for the submitted choices, with the email they make (422: what to fix)."""
    account = _account(session, account_id)
    return _compose(viewer, session, account, form)


@router.post("/accounts/{account_id}/adoption-summary")
def send(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    form: SubmittedDep,
    kick: OutboxKickDep,
) -> Response:
    """Save the report and queue it to the recipients (one transaction), then back to the
    account page; the same send key twice sends once. 422 re-renders the compose page. The
    emails go before bulk mail, delivered right after the response."""
    account = _account(session, account_id)
    begin, finish = _date(form["start"]), _date(form["end"])
    if _bad_dates(form, begin, finish):
        return _compose(viewer, session, account, form)
    try:
        sent = reports_svc.send_summary(
            session,
            settings=viewer.settings,
            account_id=account.external_id,
            start=begin,
            end=finish,
            language=form["language"],
            message=form["message"].strip() or None,
            contact_ids=form["recipients"],
            send_key=form["key"],
            actor=user.email,
            now=now,
        )
    except InvalidInput as exc:
        return _compose(viewer, session, account, form, errors=_field_errors(viewer, exc))
    if sent.first:
        kick()
    return htmx.redirect(
        viewer.request, f"{account_url(account.external_id)}?sent={sent.report.id}#send-report"
    )


@router.post("/accounts/{account_id}/adoption-reports/{report_id}/revoke")
def revoke_link(
    account_id: str,
    report_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Withdraw a summary's customer link (its page answers 410 from now on)."""
    account = _account(session, account_id)
    report = reports_svc.get_report(session, report_id)
    if report.account_id != account.id:
        raise NotFound(f"no adoption report {report_id} for account {account_id!r}")
    reports_svc.revoke(session, report_id=report_id, now=now)
    return _panel(viewer, session, account)


# -- scheduled sends -----------------------------------------------------------------------------


def _panel(
    viewer: Viewer,
    session: Any,
    account: Any,
    *,
    status_code: int = 200,
    **changes: Any,
) -> Response:
    """After a schedule change: the panel for htmx; the account page (303, or 422 with the
    panel's messages) without it."""
    if status_code == 200 and not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#send-report")
    values = send_report_context(session, viewer, account)
    values["send"].update(changes)
    if htmx.is_htmx(viewer.request):
        return show(viewer, PANEL, {"account": account, "can_edit": True, **values}, status_code=status_code)
    return show(
        viewer,
        "accounts/detail.html",
        page_context(session, viewer, account, **values),
        status_code=status_code,
    )


@router.post("/accounts/{account_id}/report-schedules")
def add_schedule(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    cadence: Annotated[str, Form()] = "monthly",
    day_of_month: Annotated[str, Form()] = "1",
    language: Annotated[str, Form()] = DEFAULT_LANGUAGE,
    recipients: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Send adoption reports to these contacts automatically, monthly or quarterly."""
    account = _account(session, account_id)
    form = {
        "cadence": cadence,
        "day_of_month": day_of_month,
        "language": language,
        "recipients": recipients or [],
    }
    try:
        day = int(day_of_month)
    except ValueError:
        day = 0
    try:
        reports_svc.create_schedule(
            session,
            account_id=account.external_id,
            cadence=cadence,
            day_of_month=day,
            recipients=recipients or [],
            language=language,
            now=now,
        )
    except InvalidInput as exc:
        return _panel(
            viewer,
            session,
            account,
            status_code=422,
            schedule_form=form,
            schedule_errors=_field_errors(viewer, exc),
        )
    return _panel(viewer, session, account)


@router.post("/accounts/{account_id}/report-schedules/{schedule_id}/delete")
def remove_schedule(
    account_id: str, schedule_id: DbId, user: EditorUserDep, viewer: ViewerDep, session: SessionDep
) -> Response:
    """Stop a scheduled send."""
    account = _account(session, account_id)
    reports_svc.delete_schedule(session, account_id=account.external_id, schedule_id=schedule_id)
    return _panel(viewer, session, account)
