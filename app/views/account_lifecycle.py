"""The account page's panel for stage, tier, active signals and open tasks of an account
(context for ``accounts/_lifecycle.html``), and the task buttons in it: done, and dismiss with a
reason. Both work as plain forms (303 back to the page) and with htmx (the panel comes back).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from app.accounts import service as accounts_svc
from app.accounts.industries import industry_tiers
from app.deps import EditorUserDep, NowDep, SessionDep
from app.errors import Conflict, InvalidInput, NotFound
from app.lifecycle import stages as stages_svc
from app.lifecycle import tasks as tasks_svc
from app.models import AccountStage
from app.pagination import PageParams
from app.types import DbId
from app.views import htmx
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, account_url, show
from app.views.week import SIGNAL_LABELS, STAGE_LABELS

router = APIRouter()

#: Open tasks shown on the panel (the rest are on the tasks API); a CSM rarely has more.
TASKS_SHOWN = 20
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITIES = (N_("high"), N_("medium"), N_("low"))
INDICATOR_LABELS = {
    "star_user": N_("Star user"), "champion": N_("Champion motivation"),
    "community": N_("Community attendance"),
}
#: The facts a signal records, in the order shown, with their labels; unknown keys are skipped.
FACT_LABELS = {
    "score": N_("Score"), "line": N_("Adoption line"), "from": N_("Peak score"), "to": N_("Score now"),
    "drop": N_("Drop"), "window_days": N_("Window (days)"),
    "tenure_days": N_("Days since contract start"), "renewal_on": N_("Renewal"),
    "days_to_renewal": N_("Days to renewal"), "last_meeting_on": N_("Last meeting"),
    "last_active_on": N_("Champion last active"), "removed_on": N_("Champion removed"),
    "answered_on": N_("Answered"), "last_event_on": N_("Last event"), "days": N_("Days"),
    "limit": N_("Limit"), "goals": N_("Goals"), "limit_days": N_("Limit (days)"),
    "events_14d": N_("Events, last 14 days"), "baseline_14d": N_("Usual events per 14 days"),
    "ratio": N_("Ratio"), "sentiment": N_("CSM sentiment"), "band": N_("Band"),
    "seats_change": N_("Seat change"),
}
DATE_FACTS = frozenset({"renewal_on", "last_meeting_on", "last_active_on", "removed_on",
                        "answered_on", "last_event_on"})


def signal_facts(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The facts worth showing, as (key, label, value): dates parsed, missing values dropped, in
    the order of ``FACT_LABELS``.

    >>> [key for key, _, _ in signal_facts({"days": 95, "limit": 90, "last_meeting_on": "2026-08-20"})]
    ['last_meeting_on', 'days', 'limit']
    """
    out: list[tuple[str, str, Any]] = []
    for key, label in FACT_LABELS.items():
        value = data.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        if key in DATE_FACTS and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
        out.append((key, label, value))
    return out


def lifecycle_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows: stage (since when, with its indicators), the industry's tier, the
    active signals with the facts that fired them, and the open tasks, soonest due first."""
    stage = session.get(AccountStage, account.id)
    tier = industry_tiers(session, as_of=viewer.today).get(account.industry or "")
    signals = stages_svc.active_signals_of(session, [account.id]).get(account.id, [])
    signals.sort(key=lambda s: (SEVERITY_ORDER.get(s.severity, 3), s.first_on, s.kind))
    tasks, more = tasks_svc.list_tasks(
        session, filters=tasks_svc.TaskFilters(account_id=account.external_id),
        page=PageParams(limit=TASKS_SHOWN, cursor=None),
    )
    return {
        "stage": stage, "tier": tier,
        "stage_labels": STAGE_LABELS, "signal_labels": SIGNAL_LABELS,
        "indicator_labels": INDICATOR_LABELS,
        "signals": [{"row": s, "facts": signal_facts(s.fired_data or s.data),
                     "latest": signal_facts(s.data) if s.data != s.fired_data else []}
                    for s in signals],
        "tasks": tasks, "more_tasks": more is not None, "task_errors": {},
    }


def _panel(
    viewer: Viewer, session: Any, account: Any, *, status_code: int = 200,
    task_errors: dict[int, str] | None = None,
) -> Response:
    """The panel for htmx; the whole account page (with the messages) for a plain form."""
    if not htmx.is_htmx(viewer.request):
        from app.views.accounts import page_context  # the page module imports this one

        page = page_context(session, viewer, account, task_errors=task_errors or {})
        return show(viewer, "accounts/detail.html", page, status_code=status_code)
    values = {"account": account, "can_edit": viewer.can_edit,
              **lifecycle_context(session, viewer, account), "task_errors": task_errors or {}}
    return show(viewer, "accounts/_lifecycle.html", values, block="lifecycle",
                status_code=status_code)


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
    account_id: str, task_id: DbId, user: EditorUserDep, viewer: ViewerDep, session: SessionDep,
    now: NowDep,
) -> Response:
    """Mark an open task done: 303 to the page, or the refreshed panel for htmx."""
    account = _task_of(session, account_id, task_id)
    try:
        tasks_svc.complete_task(session, task_id=task_id, interaction_id=None, actor=user.email,
                                now=now)
    except Conflict:
        return _panel(viewer, session, account, status_code=409, task_errors={
            task_id: viewer._("This task was closed meanwhile.")})
    return _answer(viewer, session, account)


@router.post("/accounts/{account_id}/tasks/{task_id}/dismiss")
def task_dismiss(
    account_id: str, task_id: DbId, user: EditorUserDep, viewer: ViewerDep, session: SessionDep,
    now: NowDep, reason: Annotated[str, Form()] = "",
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
        message = (viewer._("Say why the task is dismissed.") if not text
                   else viewer._("Keep the reason under 500 characters."))
        return _panel(viewer, session, account, status_code=422, task_errors={task_id: message})
    except Conflict:
        return _panel(viewer, session, account, status_code=409, task_errors={
            task_id: viewer._("This task was closed meanwhile.")})
    return _answer(viewer, session, account)
