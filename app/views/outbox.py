"""The email outbox (admins): what is queued, sent or failed, each message readable, and failed
ones queued again by hand. With no SMTP server configured, this is where emails can be read."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from app.deps import AdminUserDep, NowDep, SessionDep
from app.models_reports import OUTBOX_STATES
from app.services import outbox as svc
from app.views.page import ViewerDep, show

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
    }, block="messages")


@router.get("/{outbox_id}")
def message_page(outbox_id: int, user: AdminUserDep, viewer: ViewerDep,
                 session: SessionDep) -> Response:
    """One email as it will be (or was) sent: headers, plain text and the HTML in a sandbox."""
    response = show(viewer, "outbox/message.html", {"message": svc.get(session, outbox_id)})
    # The email's HTML (in a sandboxed srcdoc frame, which inherits this policy) is styled
    # inline, as emails are; scripts stay forbidden.
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@router.post("/{outbox_id}/retry")
def retry(outbox_id: int, user: AdminUserDep, session: SessionDep, now: NowDep) -> Response:
    """Queue a failed email again."""
    svc.retry(session, outbox_id=outbox_id, now=now)
    return RedirectResponse(f"/outbox/{outbox_id}", status_code=303)
