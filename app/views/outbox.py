"""The email outbox (admins): what is queued, sent or failed, each message readable, and failed
ones queued again by hand. With no SMTP server configured, this is where emails can be read.
The wording of the automatic emails (the tech-touch check-in), per language, is edited here too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import RedirectResponse, Response

from app.deps import AdminUserDep, NowDep, SessionDep
from app.email import mailer
from app.email import outbox as svc
from app.errors import InvalidInput
from app.i18n import LANGUAGE_NAMES
from app.models import OUTBOX_STATES
from app.reports import checkins
from app.types import DbId
from app.views import htmx
from app.views.page import Viewer, ViewerDep, show

router = APIRouter(prefix="/outbox")
PREVIEW_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


@router.get("")
def outbox_page(user: AdminUserDep, viewer: ViewerDep, session: SessionDep,
                state: str | None = None) -> Response:
    """The newest emails, optionally in one state."""
    chosen = state if state in OUTBOX_STATES else None
    return show(viewer, "outbox/index.html", {
        "messages": svc.list_messages(session, state=chosen), "state": chosen,
        "states": OUTBOX_STATES, "counts": svc.counts(session),
        "smtp_configured": mailer.SmtpConfig.from_url(viewer.settings.smtp_url) is not None,
    }, block="messages")


def _templates(viewer: Viewer, session: Any, *, status_code: int = 200,
               edited: dict[str, Any] | None = None) -> Response:
    """Every automatic email's wording in every language (``edited``: one form as submitted,
    with its errors)."""
    forms = []
    for key in checkins.TEMPLATE_KEYS:
        for language in LANGUAGE_NAMES:
            wording = checkins.template(session, key=key, language=language)
            subject, _text, html = checkins.sample(session, settings=viewer.settings,
                                                   language=language)
            form = {"key": key, "language": language, "subject": wording.subject,
                    "body": wording.body, "customised": wording.customised, "errors": {},
                    "saved": False, "sample_subject": subject, "sample_html": html}
            if edited is not None and (edited["key"], edited["language"]) == (key, language):
                form.update(edited)
            forms.append(form)
    response = show(viewer, "outbox/templates.html",
                    {"forms": forms, "languages": LANGUAGE_NAMES},
                    block="templates", status_code=status_code)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP  # the samples' inline styles
    return response


@router.get("/templates")
def templates_page(user: AdminUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """The automatic emails' wording, in Japanese and English."""
    return _templates(viewer, session)


@router.post("/templates/{key}/{language}")
def save_template(
    key: str, language: str, user: AdminUserDep, viewer: ViewerDep, session: SessionDep,
    now: NowDep, subject: Annotated[str, Form()] = "", body: Annotated[str, Form()] = "",
    reset: Annotated[str, Form()] = "",
) -> Response:
    """Save (or, with ``reset``, drop) an admin's wording; 422 names the field to fix."""
    _ = viewer._
    checkins.template(session, key=key, language=language)  # 404 / 422 for an unknown one
    if reset:
        checkins.reset_template(session, key=key, language=language)
        edited: dict[str, Any] = {"key": key, "language": language, "saved": True}
    else:
        errors: dict[str, str] = {}
        for name, value, limit in (("subject", subject, 500), ("body", body, 20000)):
            if not value.strip():
                errors[name] = _("The wording cannot be empty.")
            elif len(value) > limit:
                errors[name] = _("The wording is limited to %(num)s characters.", num=f"{limit:,}")
        if not errors:
            try:
                checkins.save_template(session, key=key, language=language,
                                       subject=subject.strip(), body=body.strip(),
                                       actor=user.email, now=now)
            except InvalidInput as exc:
                for fe in exc.errors:
                    errors[fe.field] = _("Only $contact_name and $account_name can be filled in.")
        edited = {"key": key, "language": language, "subject": subject, "body": body,
                  "errors": errors, "saved": not errors}
        if errors:
            return _templates(viewer, session, status_code=422, edited=edited)
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"/outbox/templates#template-{key}-{language}")
    return _templates(viewer, session, edited=edited)


@router.get("/{outbox_id}")
def message_page(outbox_id: DbId, user: AdminUserDep, viewer: ViewerDep,
                 session: SessionDep) -> Response:
    """One email as it will be (or was) sent: headers, plain text and the HTML in a sandbox."""
    response = show(viewer, "outbox/message.html", {"message": svc.get(session, outbox_id)})
    # The email's HTML (in a sandboxed srcdoc frame, which inherits this policy) is styled
    # inline, as emails are; scripts stay forbidden.
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@router.post("/{outbox_id}/retry")
def retry(outbox_id: DbId, user: AdminUserDep, session: SessionDep, now: NowDep) -> Response:
    """Queue a failed email again."""
    svc.retry(session, outbox_id=outbox_id, now=now)
    return RedirectResponse(f"/outbox/{outbox_id}", status_code=303)
