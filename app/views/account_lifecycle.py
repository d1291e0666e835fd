"""The task buttons of the account page's panel for stage, tier, active signals and open tasks
(``accounts/_lifecycle.html``, its context built by ``app.views.account_page``): done, and dismiss
with a reason. Both work as plain forms (303 back to the page) and with htmx (the panel comes back).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from app.accounts import service as accounts_svc
from app.deps import EditorUserDep, NowDep, SessionDep
from app.errors import Conflict, InvalidInput, NotFound
from app.lifecycle import tasks as tasks_svc
from app.types import DbId
from app.views import htmx
from app.views.account_page import lifecycle_context, page_context
from app.views.page import Viewer, ViewerDep, account_url, show

router = APIRouter()


def _panel(
    viewer: Viewer,
    session: Any,
    account: Any,
    *,
    status_code: int = 200,
    task_errors: dict[int, str] | None = None,
) -> Response:
    """The panel for htmx; the whole account page (with the messages) for a plain form."""
    if not htmx.is_htmx(viewer.request):
        page = page_context(session, viewer, account, task_errors=task_errors or {})
        return show(viewer, "accounts/detail.html", page, status_code=status_code)
    values = {
        "account": account,
        "can_edit": viewer.can_edit,
        **lifecycle_context(session, viewer, account),
        "task_errors": task_errors or {},
    }
    return show(viewer, "accounts/_lifecycle.html", values, block="lifecycle", status_code=status_code)


def _task_of(session: Any, account_id: str, task_id: DbId) -> Any:
    account = accounts_svc.get_account(session, account_id)
    if account.status == "deleted":
        raise NotFound(f"no account with id {account_id!r}")
    view = tasks_svc.get_task(session, task_id)
    if view.task.account_id != account.id:
        raise NotFound(f"no task {task_id} on account {account_id!r}")
    return account


def _answer(viewer: Viewer, session: Any, account: Any) -> Response:
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#lifecycle")
    return _panel(viewer, session, account)


@router.post("/accounts/{account_id}/tasks/{task_id}/done")
def task_done(
    account_id: str,
    task_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Mark an open task done: 303 to the page, or the refreshed panel for htmx."""
    account = _task_of(session, account_id, task_id)
    try:
        tasks_svc.complete_task(session, task_id=task_id, interaction_id=None, actor=user.email, now=now)
    except Conflict:
        return _panel(
            viewer,
            session,
            account,
            status_code=409,
            task_errors={task_id: viewer._("This task was closed meanwhile.")},
        )
    return _answer(viewer, session, account)


@router.post("/accounts/{account_id}/tasks/{task_id}/dismiss")
def task_dismiss(
    account_id: str,
    task_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Close an open task by hand with a reason (required); 422 re-renders the panel with the
    message beside the task."""
    account = _task_of(session, account_id, task_id)
    text = reason.strip()
    try:
        if not text:
            raise InvalidInput.field("reason", "say why the task is dismissed")
        if len(text) > 500:
            raise InvalidInput.field("reason", "at most 500 characters")
        tasks_svc.dismiss_task(session, task_id=task_id, reason=text, actor=user.email, now=now)
    except InvalidInput:
        message = (
            viewer._("Say why the task is dismissed.")
            if not text
            else viewer._("Keep the reason under 500 characters.")
        )
        return _panel(viewer, session, account, status_code=422, task_errors={task_id: message})
    except Conflict:
        return _panel(
            viewer,
            session,
            account,
            status_code=409,
            task_errors={task_id: viewer._("This task was closed meanwhile.")},
        )
    return _answer(viewer, session, account)
