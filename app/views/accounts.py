"""The account page: header, health with its explanation and trend, the timeline, Log meeting.

Each panel is a named block of ``accounts/detail.html``; the success plan panel's routes are in
``app.views.plans``. Panels are built by separate functions so a fragment computes only its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from app.accounts import service as accounts_svc
from app.accounts import timeline as timeline_svc
from app.deps import CurrentUserDep, EditorUserDep, NowDep, SessionDep
from app.errors import InvalidInput, NotFound
from app.health import reading as health_reading
from app.interactions import service as interactions_svc
from app.interactions.schemas import InteractionIn
from app.pagination import PageParams
from app.scoring.health import DEFAULT_BAND_GOOD, DEFAULT_BAND_NORMAL
from app.views import htmx
from app.views.account_lifecycle import lifecycle_context
from app.views.account_lifecycle import router as lifecycle_router
from app.views.account_opportunities import opportunities_context
from app.views.account_send import send_report_context
from app.views.charts import line_chart
from app.views.labels import N_
from app.views.markdown import render_markdown
from app.views.page import Viewer, ViewerDep, account_url, show
from app.views.plans import plan_context

router = APIRouter()
router.include_router(lifecycle_router)  # the task buttons of the stage and signals panel

#: Timeline filters: a kind of interaction → the types it shows.
TIMELINE_KINDS: dict[str, tuple[str, ...]] = {
    "meetings": ("meeting", "call", "meeting_scheduled"),
    "emails": ("email_sent", "email_reply", "email_click"),
    "tickets": ("support_ticket",),
    "nps": ("nps_response",),
    "attendance": ("webinar", "event", "community", "training", "certification"),
    "other": ("community_post", "note"),
}
#: Timeline filters for what is not an interaction: a kind → the timeline's source.
TIMELINE_SOURCES: dict[str, str] = {N_("scores"): "score", N_("goals"): "goal"}
TIMELINE_PAGE = 20
MEETING_KINDS = ("meeting", "call")
ONBOARDING_TOPICS = ("kickoff", "admin_setup", "data_import", "user_training", "integration",
                     "adoption_review", "executive_review")
_interaction = TypeAdapter(InteractionIn)


def _account(session: Any, external_id: str) -> Any:
    account = accounts_svc.get_account(session, external_id)
    if account.status == "deleted":
        raise NotFound(f"no account with id {external_id!r}")
    return account


def header_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    owner = accounts_svc.account_owner(session, account)
    start = account.contract_start_on
    tenure_days = (viewer.today - start).days if start else None
    return {"account": account, "owner": owner, "tenure_days": tenure_days}


def health_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """The latest score with its explanation and a 12-month chart (None without a model)."""
    today = viewer.now.astimezone(viewer.settings.tz).date()
    try:
        current = health_reading.current_health(session, account_id=account.external_id, model_id=None,
                                                today=today, tz=viewer.settings.tz)
    except NotFound:
        return {"health": None, "chart": None}
    start = today - dt.timedelta(days=365)
    _, points, _ = health_reading.health_history(session, account_id=account.external_id,
                                                 model_id=current.model.id, start=start, end=today)
    spec = current.version.definition
    series = [(p.day, p.score) for p in points if p.score is not None]
    if current.score is not None and (not series or series[-1][0] < current.day):
        series.append((current.day, current.score))
    chart = line_chart(
        series, start=start, end=today, scale_max=current.scale_max,
        band_good=float(spec.get("band_good", DEFAULT_BAND_GOOD)),
        band_normal=float(spec.get("band_normal", DEFAULT_BAND_NORMAL)),
    )
    return {"health": current, "chart": chart}


def timeline_context(
    session: Any, viewer: Viewer, account: Any, *, kind: str | None, cursor: str | None,
) -> dict[str, Any]:
    """A page of the timeline: interactions, score changes and goal events, newest first."""
    kind = kind if kind in TIMELINE_KINDS or kind in TIMELINE_SOURCES else None
    if kind in TIMELINE_SOURCES:
        filter_in = timeline_svc.TimelineFilter(sources=(TIMELINE_SOURCES[kind],))
    elif kind:
        filter_in = timeline_svc.TimelineFilter(sources=("interaction",), types=TIMELINE_KINDS[kind])
    else:
        filter_in = timeline_svc.TimelineFilter()
    page = timeline_svc.account_timeline(
        session, account_id=account.external_id, filter_in=filter_in, cursor=cursor or None,
        limit=TIMELINE_PAGE, tz=viewer.settings.tz,
    )
    items: list[dict[str, Any]] = []
    for item in page.items:
        if item.interaction is None:
            items.append({"source": item.source, "at": item.at, "goal": item.goal,
                          "score": item.score})
            continue
        view = item.interaction
        row = view.interaction
        scheduled = None
        if row.type == "meeting_scheduled" and row.data.get("scheduled_for"):
            scheduled = dt.datetime.fromisoformat(row.data["scheduled_for"])
        items.append({"source": "interaction", "at": item.at, "row": row, "contacts": view.contacts,
                      "scheduled_for": scheduled,
                      "body_html": render_markdown(row.body) if row.body else None})
    return {"timeline": items, "next_cursor": page.next_cursor, "kind": kind,
            "timeline_kinds": (*TIMELINE_KINDS, *TIMELINE_SOURCES)}


def _local_input(moment: dt.datetime, viewer: Viewer) -> str:
    return viewer.l10n.local(moment).strftime("%Y-%m-%dT%H:%M")


def meeting_form(viewer: Viewer, session: Any, account: Any, **values: Any) -> dict[str, Any]:
    """The Log meeting form's context: blank (with a fresh retry key) or as submitted."""
    contacts, _ = accounts_svc.list_contacts(session, account_id=account.external_id,
                                             page=PageParams(limit=200, cursor=None))
    form = {
        "occurred_at": _local_input(viewer.now, viewer), "kind": "meeting", "attendees": [],
        "notes": "", "onboarding_topic": "", "next_meeting": "", "key": uuid.uuid4().hex,
    }
    form.update(values)
    return {"form": form, "contacts": contacts, "meeting_kinds": MEETING_KINDS,
            "topics": ONBOARDING_TOPICS}


def page_context(
    session: Any, viewer: Viewer, account: Any, *, kind: str | None = None, cursor: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    values = {
        **header_context(session, viewer, account),
        **health_context(session, viewer, account),
        **timeline_context(session, viewer, account, kind=kind, cursor=cursor),
        **meeting_form(viewer, session, account),
        **plan_context(session, viewer, account),
        **lifecycle_context(session, viewer, account),
        **send_report_context(session, viewer, account),
        **opportunities_context(session, viewer, account),
        "can_edit": viewer.can_edit, "errors": {}, "saved": False,
    }
    values.update(overrides)
    return values


@router.get("/accounts/{account_id}")
def account_page(
    account_id: str, user: CurrentUserDep, viewer: ViewerDep, session: SessionDep,
    kind: str | None = None, cursor: str | None = None,
) -> Response:
    """Everything about one account on one page."""
    account = _account(session, account_id)
    return show(viewer, "accounts/detail.html",
                page_context(session, viewer, account, kind=kind, cursor=cursor))


@router.get("/accounts/{account_id}/timeline")
def timeline(
    account_id: str, user: CurrentUserDep, viewer: ViewerDep, session: SessionDep,
    kind: str | None = None, cursor: str | None = None,
) -> Response:
    """The timeline panel (a filter change) or its next page ("load more")."""
    account = _account(session, account_id)
    if not htmx.is_htmx(viewer.request):
        return show(viewer, "accounts/detail.html",
                    page_context(session, viewer, account, kind=kind, cursor=cursor))
    values = {"account": account, "can_edit": viewer.can_edit,
              **timeline_context(session, viewer, account, kind=kind, cursor=cursor)}
    return show(viewer, "accounts/detail.html", values,
                block="timeline_page" if cursor else "timeline")


def _parse_local(value: str, viewer: Viewer) -> dt.datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=viewer.l10n.tz)
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: outside years 1-9999 once in UTC
        return None


@router.post("/accounts/{account_id}/meetings")
def log_meeting(
    account_id: str, user: EditorUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep,
    occurred_at: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "meeting",
    attendees: Annotated[list[int] | None, Form()] = None,
    notes: Annotated[str, Form()] = "",
    onboarding_topic: Annotated[str, Form()] = "",
    next_meeting: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    """Record a meeting (and the next one, if given): 303 to the page, or the fresh form and a
    ``timeline-changed`` event for htmx; 422 re-renders the form with each field's message."""
    _ = viewer._
    account = _account(session, account_id)
    submitted = {"occurred_at": occurred_at, "kind": kind, "attendees": attendees or [],
                 "notes": notes, "onboarding_topic": onboarding_topic,
                 "next_meeting": next_meeting, "key": key or uuid.uuid4().hex}
    errors: dict[str, str] = {}
    when = _parse_local(occurred_at, viewer)
    if when is None:
        errors["occurred_at"] = _("Enter the date and time of the meeting.")
    elif when > now + interactions_svc.FUTURE_SLACK:
        errors["occurred_at"] = _("A meeting cannot be logged more than a day ahead.")
    if kind not in MEETING_KINDS:
        errors["kind"] = _("Choose a type.")
    upcoming = _parse_local(next_meeting, viewer)
    if next_meeting.strip() and upcoming is None:
        errors["next_meeting"] = _("Enter a date and time, or leave it empty.")
    elif upcoming is not None and upcoming <= now:
        errors["next_meeting"] = _("The next meeting must be in the future.")
    if len(notes) > 100_000:
        errors["notes"] = _("The notes are too long.")
    items: list[Any] = []
    if not errors:
        assert when is not None
        base = {"account_id": account.external_id, "author": user.email,
                "external_id": f"web-{submitted['key'][:64]}"}
        meeting: dict[str, Any] = {**base, "type": kind, "occurred_at": when,
                                   "body": notes.strip() or None}
        if kind == "meeting":
            meeting["attendees"] = attendees or []
            meeting["onboarding_topic"] = onboarding_topic.strip() or None
        else:
            meeting["contacts"] = attendees or []
        try:
            items.append(_interaction.validate_python(meeting))
            if upcoming is not None:
                items.append(_interaction.validate_python({
                    **base, "external_id": f"{base['external_id']}-next",
                    "type": "meeting_scheduled", "occurred_at": now, "scheduled_for": upcoming,
                    "title": _("Next meeting"),
                }))
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err["loc"][-1]) if err["loc"] else "notes"
                errors[_FORM_FIELDS.get(field, "notes")] = _("Check this field.")
    if not errors:
        try:
            interactions_svc.create_interaction(session, interaction_in=items[0], now=now)
        except InvalidInput as exc:
            for fe in exc.errors:
                errors[_FORM_FIELDS.get(fe.field.split("[")[0], "notes")] = _("Check this field.")
    if errors:
        values = {"account": account, "can_edit": True, "errors": errors, "saved": False,
                  **meeting_form(viewer, session, account, **submitted)}
        if not htmx.is_htmx(viewer.request):
            values = page_context(session, viewer, account, **{
                k: v for k, v in values.items() if k in ("errors", "form")})
        return show(viewer, "accounts/detail.html", values, block="meeting_form", status_code=422)
    for item in items[1:]:
        interactions_svc.create_interaction(session, interaction_in=item, now=now)
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#timeline")
    values = {"account": account, "can_edit": True, "errors": {}, "saved": True,
              **meeting_form(viewer, session, account)}
    response = show(viewer, "accounts/detail.html", values, block="meeting_form")
    return htmx.trigger(response, "timeline-changed")


#: Where a service's field name shows up on the form.
_FORM_FIELDS = {
    "occurred_at": "occurred_at", "type": "kind", "attendees": "attendees", "contacts": "attendees",
    "body": "notes", "notes": "notes", "onboarding_topic": "onboarding_topic",
    "scheduled_for": "next_meeting",
}
