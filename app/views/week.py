"""This week (``/week``): each CSM's ranked action list, the suppressed accounts apart, verdicts.

The list is the stored weekly list (computed as of Monday 00:00), so the page and the API always
agree. Each row's breakdown is a ``<details>`` (no script needed); *done* and *not actionable*
post a small form that htmx swaps in place (the row's own block), or a plain 303 without script.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from app.accounts.portfolio import owners as list_owners
from app.deps import CurrentUserDep, EditorUserDep, NowDep, SessionDep, writes_on_read
from app.errors import Conflict, InvalidInput, NotPermitted
from app.models import REJECT_REASONS, PriorityList
from app.priorities import service as svc
from app.scoring.priorities import FACTORS
from app.scoring.signals import SIGNAL_KINDS
from app.types import DbId
from app.views import htmx
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, show, url_with

router = APIRouter()
TEMPLATE = "week/index.html"

FACTOR_LABELS = {
    "health_deficit": N_("Health deficit"), "meeting_gap": N_("Months since the last meeting"),
    "weak_relationship": N_("Weak key-person relationship"), "onboarding": N_("Onboarding (first 3 months)"),
    "unanswered_outreach": N_("Outreach left unanswered"), "renewal_window": N_("Renewal in 3–6 months"),
    "signals": N_("Active signals"), "target_multiplier": N_("Target industry ×"),
    "mogura_dampener": N_("Mogura, not target ×"),
}
SIGNAL_LABELS = {
    "onboarding_checkpoint": N_("90-day checkpoint"), "score_drop": N_("Score drop"),
    "renewal_window": N_("Renewal window"), "no_meeting": N_("No meeting"),
    "champion_quiet": N_("Champion quiet"), "champion_left": N_("Champion left"),
    "nps_detractor": N_("NPS detractor"), "goals_unverified": N_("Goals not verified"),
    "usage_collapse": N_("Usage collapse"), "stale_data": N_("No data lately"),
    "disagreement": N_("Views disagree"),
}
REASON_LABELS = {
    "talked_offline": N_("Talked offline already"), "no_churn_risk": N_("No churn risk"),
    "waiting_on_customer": N_("Waiting on the customer"), "other": N_("Other"),
}
SUPPRESSION_LABELS = {"meeting_scheduled": N_("Meeting on %(day)s"), "recent_touch": N_("Touched on %(day)s")}
STAGE_LABELS = {
    "success": N_("Success"), "growth": N_("Growth"), "rescue": N_("Rescue"), "mogura": N_("Mogura"),
}
assert set(FACTOR_LABELS) == set(FACTORS) and set(SIGNAL_LABELS) == set(SIGNAL_KINDS)
assert set(REASON_LABELS) == set(REJECT_REASONS)


def _owner_choice(owner: str | None, user_email: str, role: str) -> str:
    choice = (owner or "").strip().lower()
    return choice or ("me" if role == "csm" else "all")


def _owner_id(session: Any, choice: str, user_id: DbId | None) -> int | None:
    if choice == "me":
        return user_id
    if choice == "all":
        return None
    for o in list_owners(session):
        if o.email == choice:
            return o.id
    raise InvalidInput.field("owner", "no such CSM", "query")


def _labels() -> dict[str, Any]:
    return {"factor_labels": FACTOR_LABELS, "signal_labels": SIGNAL_LABELS, "reason_labels": REASON_LABELS,
            "suppression_labels": SUPPRESSION_LABELS, "stage_labels": STAGE_LABELS}


def _week_values(session: Any, viewer: Viewer, week: str, owner_choice: str) -> dict[str, Any]:
    settings = viewer.settings
    owner_id = _owner_id(session, owner_choice, viewer.user.id if viewer.user else None)
    view = svc.week_view(session, week=week, tz=settings.tz, now=viewer.now, owner_id=owner_id)
    groups: dict[str, list[svc.ItemView]] = {}
    for item in view.items:
        groups.setdefault(item.owner.name if item.owner else viewer._("No owner"), []).append(item)
    account_ids = [v.account.id for v in view.items if v.account.id is not None]
    recent = svc.recent_interactions(session, account_ids=account_ids, since=view.stored.as_of)
    monday = svc.monday_of(week)
    report: dict[str, Any] | None = None
    if viewer.is_admin:
        start = svc.week_of(monday - dt.timedelta(weeks=4))
        found, lists = svc.feedback(session, from_week=start, to_week=week)
        report = {"report": found, "lists": lists, "from": start}
    return {
        "week": week, "monday": monday, "stored": view.stored, "groups": groups,
        "suppressed": view.suppressed, "recent": recent, "report": report,
        "prev_week": svc.week_of(monday - dt.timedelta(weeks=1)),
        "next_week": None if monday + dt.timedelta(weeks=1) > viewer.today
        else svc.week_of(monday + dt.timedelta(weeks=1)),
        "owners": list_owners(session), "params": {"week": week, "owner": owner_choice},
        "can_edit": viewer.can_edit, **_labels(),
    }


@router.get("/week")
@writes_on_read  # the week's first reader stores its list
def week_page(
    user: CurrentUserDep, viewer: ViewerDep, session: SessionDep,
    week: str | None = None, owner: str | None = None,
) -> Response:
    """The week's ranked list (mine for a CSM, everyone's for others), with the feedback report."""
    chosen = svc.parse_week(week, today=viewer.today)
    values = _week_values(session, viewer, chosen, _owner_choice(owner, user.email, user.role))
    response = show(viewer, TEMPLATE, values, block="lists")
    if htmx.is_htmx(viewer.request):
        htmx.push_url(response, url_with("/week", values["params"]))
    return response


@router.post("/week/items/{item_id}/feedback")
def item_feedback(
    item_id: DbId, user: EditorUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep,
    status: Annotated[str, Form()], reason: Annotated[str | None, Form()] = None,
    text: Annotated[str | None, Form()] = None, interaction_id: Annotated[str | None, Form()] = None,
) -> Response:
    """Records done / not actionable (or takes the verdict back) and answers with the row."""
    item = svc.get_item(session, item_id)
    if user.role != "admin" and item.owner_id not in (None, user.id):
        raise NotPermitted("only the account's owner or an admin can judge this item")
    errors: dict[str, str] = {}
    linked: DbId | None = None
    if interaction_id:
        try:
            linked = int(interaction_id)
        except ValueError:
            errors["interaction_id"] = viewer._("Pick an interaction from the list")
    if not errors:
        try:
            svc.give_feedback(session, item_id=item_id, status=status, interaction_id=linked,
                              reason=reason or None, text=text, author=user.email, now=now)
        except InvalidInput as exc:
            errors = {e.field: e.message for e in exc.errors}
        except Conflict as exc:
            errors = {"status": exc.detail}
    stored = session.get(PriorityList, item.list_id)
    assert stored is not None
    if not htmx.is_htmx(viewer.request) and not errors:
        return htmx.redirect(viewer.request, url_with("/week", {"week": stored.week}) + f"#item-{item_id}")
    view = svc.item_view(session, svc.get_item(session, item_id))
    recent = svc.recent_interactions(session, account_ids=[view.account.id or 0], since=stored.as_of)
    values = {"item": view, "recent": recent, "errors": errors, "can_edit": True, "week": stored.week,
              "form_values": {"status": status, "reason": reason, "text": text}, **_labels()}
    if not htmx.is_htmx(viewer.request):  # a plain form with errors: the whole page again
        page = _week_values(session, viewer, stored.week, "all" if user.role == "admin" else "me")
        return show(viewer, TEMPLATE, {**page, "row_errors": {item_id: errors}}, status_code=422)
    return show(viewer, TEMPLATE, values, block="row", status_code=422 if errors else 200)

