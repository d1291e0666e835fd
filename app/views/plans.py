"""The success plan panel of the account page: goals, steps, progress and inline edits.

Every edit sends the version the form was rendered with; a stale one (someone changed the goal
meanwhile) is refused by the service and answered with the goal as it is now and a "changed by X
meanwhile — reload" notice (409), never a silent overwrite.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from app.accounts import portfolio as portfolio_svc
from app.accounts import service as accounts_svc
from app.deps import EditorUserDep, NowDep, SessionDep
from app.errors import InvalidInput, PreconditionFailed
from app.models import GOAL_STATUSES
from app.plans import goals as plan_goals
from app.plans import plans as success_plans
from app.plans import steps as plan_steps
from app.plans.schemas import GoalCreate, PlanCreate, StepCreate
from app.types import DbId
from app.views import htmx
from app.views.account_page import page_context, plan_context
from app.views.page import Viewer, ViewerDep, account_url, show

router = APIRouter()
TEMPLATE = "accounts/detail.html"


def _goal_fragment(
    session: Any,
    viewer: Viewer,
    account: Any,
    goal_id: DbId,
    *,
    status_code: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    values = plan_context(session, viewer, account)
    goal = next((g for g in (values["plan"] or {}).get("goals", []) if g["id"] == goal_id), None)
    if notice:
        values["goal_notices"] = {goal_id: notice}
    if errors:
        values["goal_errors"] = {goal_id: errors}
    if not htmx.is_htmx(viewer.request) and status_code != 200:
        full = page_context(session, viewer, account)
        full.update({k: values[k] for k in ("goal_notices", "goal_errors")})
        return show(viewer, TEMPLATE, full, status_code=status_code)
    if goal is None:
        return show(viewer, TEMPLATE, values, block="plan", status_code=status_code)
    values["goal"] = goal
    return show(viewer, TEMPLATE, values, block="goal", status_code=status_code)


def _plan_form_invalid(
    session: Any,
    viewer: Viewer,
    account: Any,
    *,
    plan_errors: dict[str, str],
    goal_form: dict[str, str] | None = None,
) -> Response:
    """422 with the field messages: the plan panel for htmx, the whole page for a plain form."""
    messages: dict[str, Any] = {"plan_errors": plan_errors, "goal_form": goal_form or {}}
    if not htmx.is_htmx(viewer.request):
        full = page_context(session, viewer, account)
        full.update(messages)
        return show(viewer, TEMPLATE, full, status_code=422)
    values = {**plan_context(session, viewer, account), **messages}
    return show(viewer, TEMPLATE, values, block="plan", status_code=422)


def _stale_notice(session: Any, viewer: Viewer, entity: str, entity_id: DbId) -> str:
    change = portfolio_svc.last_change(session, entity=entity, entity_id=entity_id)
    who = change.actor if change is not None else "?"
    who = portfolio_svc.user_names(session, [who]).get(who, who)
    return viewer._("Changed by %(who)s meanwhile — reload to see their version before editing.", who=who)


def _done(viewer: Viewer, account: Any, session: Any, goal_id: DbId) -> Response:
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#goal-{goal_id}")
    return _goal_fragment(session, viewer, account, goal_id)


def _version(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


GOAL = "/accounts/{account_id}/plans/{plan_id}/goals/{goal_id}"


@router.post(GOAL)
def edit_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    version: Annotated[str, Form()] = "0",
    status: Annotated[str | None, Form()] = None,
    current_value: Annotated[str | None, Form()] = None,
    notes: Annotated[str | None, Form()] = None,
) -> Response:
    """Change the goal's status, current value or notes, if nobody changed it meanwhile."""
    account = accounts_svc.get_account(session, account_id)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if status is not None:
        if status not in GOAL_STATUSES:
            errors["status"] = viewer._("Choose a status.")
        changes["status"] = status
    if current_value is not None:
        text = current_value.strip().replace(",", "")
        try:
            changes["current_value"] = float(text) if text else None
        except ValueError:
            errors["current_value"] = viewer._("Enter a number.")
    if notes is not None:
        changes["description"] = notes.strip() or None
    if errors:
        return _goal_fragment(session, viewer, account, goal_id, status_code=422, errors=errors)
    try:
        plan_goals.update_goal(
            session,
            account_id=account.external_id,
            plan_id=plan_id,
            goal_id=goal_id,
            changes=changes,
            expected_version=_version(version),
            actor=user.email,
            now=now,
        )
    except PreconditionFailed:
        return _goal_fragment(
            session,
            viewer,
            account,
            goal_id,
            status_code=409,
            notice=_stale_notice(session, viewer, "goal", goal_id),
        )
    except InvalidInput as exc:
        return _goal_fragment(
            session,
            viewer,
            account,
            goal_id,
            status_code=422,
            errors={e.field: e.message for e in exc.errors},
        )
    return _done(viewer, account, session, goal_id)


@router.post(GOAL + "/verify")
def verify_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    version: Annotated[str, Form()] = "0",
) -> Response:
    """Record that the goal was re-validated with the customer today."""
    account = accounts_svc.get_account(session, account_id)
    try:
        plan_goals.verify_goal(
            session,
            account_id=account.external_id,
            plan_id=plan_id,
            goal_id=goal_id,
            status=None,
            expected_version=_version(version),
            actor=user.email,
            now=now,
        )
    except PreconditionFailed:
        return _goal_fragment(
            session,
            viewer,
            account,
            goal_id,
            status_code=409,
            notice=_stale_notice(session, viewer, "goal", goal_id),
        )
    return _done(viewer, account, session, goal_id)


@router.post(GOAL + "/steps")
def add_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    title: Annotated[str, Form()] = "",
) -> Response:
    """A new step on the goal."""
    account = accounts_svc.get_account(session, account_id)
    if not title.strip():
        return _goal_fragment(
            session,
            viewer,
            account,
            goal_id,
            status_code=422,
            errors={"step_title": viewer._("Give the step a title.")},
        )
    plan_steps.create_step(
        session,
        account_id=account.external_id,
        plan_id=plan_id,
        goal_id=goal_id,
        step_in=StepCreate(title=title.strip()[:255]),
        actor=user.email,
        now=now,
    )
    return _done(viewer, account, session, goal_id)


@router.post(GOAL + "/steps/{step_id}")
def check_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    step_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    version: Annotated[str, Form()] = "0",
    done: Annotated[str, Form()] = "",
) -> Response:
    """Check a step off (or back on)."""
    account = accounts_svc.get_account(session, account_id)
    try:
        plan_steps.update_step(
            session,
            account_id=account.external_id,
            plan_id=plan_id,
            goal_id=goal_id,
            step_id=step_id,
            changes={"done": done == "true"},
            expected_version=_version(version),
            actor=user.email,
            now=now,
        )
    except PreconditionFailed:
        return _goal_fragment(
            session,
            viewer,
            account,
            goal_id,
            status_code=409,
            notice=_stale_notice(session, viewer, "step", step_id),
        )
    return _done(viewer, account, session, goal_id)


@router.post("/accounts/{account_id}/plans/{plan_id}/goals")
def add_goal(
    account_id: str,
    plan_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "qualitative",
    criterion: Annotated[str, Form()] = "",
    metric: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
) -> Response:
    """A new goal in the plan: qualitative (with its success criterion) or quantitative (what is
    measured and the target)."""
    account = accounts_svc.get_account(session, account_id)
    _ = viewer._
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = _("Give the goal a title.")
    target_value = None
    if kind == "quantitative":
        try:
            target_value = float(target.strip().replace(",", ""))
        except ValueError:
            errors["target"] = _("Enter a number.")
        if not metric.strip():
            errors["metric"] = _("Say what is measured.")
    elif kind == "qualitative":
        if not criterion.strip():
            errors["criterion"] = _("Say how you will know it is achieved.")
    else:
        errors["kind"] = _("Choose a kind.")
    if not errors:
        quantitative = kind == "quantitative"
        goal_in = GoalCreate(
            title=title.strip()[:255],
            kind="quantitative" if quantitative else "qualitative",
            target=target_value,
            baseline=0.0 if quantitative else None,
            current_value=0.0 if quantitative else None,
            metric=metric.strip()[:200] or None if quantitative else None,
            unit=(unit.strip()[:50] or None) if quantitative else None,
            success_criterion=None if quantitative else criterion.strip(),
        )
        try:
            plan_goals.create_goal(
                session,
                account_id=account.external_id,
                plan_id=plan_id,
                goal_in=goal_in,
                actor=user.email,
                now=now,
            )
        except InvalidInput as exc:
            errors = {e.field: _("Check this field.") for e in exc.errors}
    if errors:
        return _plan_form_invalid(
            session,
            viewer,
            account,
            plan_errors=errors,
            goal_form={
                "title": title,
                "kind": kind,
                "criterion": criterion,
                "metric": metric,
                "target": target,
                "unit": unit,
            },
        )
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#plan")
    return show(viewer, TEMPLATE, plan_context(session, viewer, account), block="plan")


@router.post("/accounts/{account_id}/plans")
def add_plan(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    title: Annotated[str, Form()] = "",
) -> Response:
    """Start an active success plan for the account."""
    account = accounts_svc.get_account(session, account_id)
    if not title.strip():
        return _plan_form_invalid(
            session, viewer, account, plan_errors={"plan_title": viewer._("Give the plan a title.")}
        )
    success_plans.create_plan(
        session,
        account_id=account.external_id,
        plan_in=PlanCreate(title=title.strip()[:255], status="active", start_on=viewer.today),
        actor=user.email,
        now=now,
    )
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#plan")
    return show(viewer, TEMPLATE, plan_context(session, viewer, account), block="plan")
