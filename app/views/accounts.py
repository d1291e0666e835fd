"""The account page: header, health with its explanation and trend, the timeline, Log meeting.

Each panel is a named block of ``accounts/detail.html`` whose context is built by
``app.views.account_page``; the success plan panel's routes are in ``app.views.plans``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from app.accounts import service as accounts_svc
from app.deps import CurrentUserDep, EditorUserDep, NowDep, SessionDep
from app.errors import InvalidInput, NotFound
from app.interactions import service as interactions_svc
from app.interactions.schemas import InteractionIn
from app.views import htmx
from app.views.account_page import MEETING_KINDS, meeting_form, page_context, timeline_context
from app.views.page import Viewer, ViewerDep, account_url, show

router = APIRouter()

_interaction = TypeAdapter(InteractionIn)


def _account(session: Any, external_id: str) -> Any:
    account = accounts_svc.get_account(session, external_id)
    if account.status == "deleted":
        raise NotFound(f"no account with id {external_id!r}")
    return account


@router.get("/accounts/{account_id}")
def account_page(
    account_id: str,
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    kind: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Everything about one account on one page."""
    account = _account(session, account_id)
    return show(
        viewer, "accounts/detail.html", page_context(session, viewer, account, kind=kind, cursor=cursor)
    )


@router.get("/accounts/{account_id}/timeline")
def timeline(
    account_id: str,
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    kind: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The timeline panel (a filter change) or its next page ("load more")."""
    account = _account(session, account_id)
    if not htmx.is_htmx(viewer.request):
        return show(
            viewer, "accounts/detail.html", page_context(session, viewer, account, kind=kind, cursor=cursor)
        )
    values = {
        "account": account,
        "can_edit": viewer.can_edit,
        **timeline_context(session, viewer, account, kind=kind, cursor=cursor),
    }
    return show(viewer, "accounts/detail.html", values, block="timeline_page" if cursor else "timeline")


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


def _check_meeting_form(
    viewer: Viewer, *, now: dt.datetime, occurred_at: str, kind: str, next_meeting: str, notes: str
) -> tuple[dict[str, str], dt.datetime | None, dt.datetime | None]:
    """Each bad field's message for the Log meeting form, with the two times parsed."""
    _ = viewer._
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
    return errors, when, upcoming


def _meeting_items(
    viewer: Viewer,
    errors: dict[str, str],
    *,
    account_id: str,
    author: str,
    key: str,
    kind: str,
    when: dt.datetime,
    upcoming: dt.datetime | None,
    attendees: list[int],
    notes: str,
    onboarding_topic: str,
    now: dt.datetime,
) -> list[Any]:
    """The meeting (and the next one, if given) as interaction inputs; a field the input models
    refuse gets its message in ``errors``."""
    _ = viewer._
    items: list[Any] = []
    base = {"account_id": account_id, "author": author, "external_id": f"web-{key[:64]}"}
    meeting: dict[str, Any] = {**base, "type": kind, "occurred_at": when, "body": notes.strip() or None}
    if kind == "meeting":
        meeting["attendees"] = attendees
        meeting["onboarding_topic"] = onboarding_topic.strip() or None
    else:
        meeting["contacts"] = attendees
    try:
        items.append(_interaction.validate_python(meeting))
        if upcoming is not None:
            items.append(
                _interaction.validate_python(
                    {
                        **base,
                        "external_id": f"{base['external_id']}-next",
                        "type": "meeting_scheduled",
                        "occurred_at": now,
                        "scheduled_for": upcoming,
                        "title": _("Next meeting"),
                    }
                )
            )
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][-1]) if err["loc"] else "notes"
            errors[_FORM_FIELDS.get(field, "notes")] = _("Check this field.")
    return items


@router.post("/accounts/{account_id}/meetings")
def log_meeting(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
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
    retry_key = key or uuid.uuid4().hex
    submitted = {
        "occurred_at": occurred_at,
        "kind": kind,
        "attendees": attendees or [],
        "notes": notes,
        "onboarding_topic": onboarding_topic,
        "next_meeting": next_meeting,
        "key": retry_key,
    }
    errors, when, upcoming = _check_meeting_form(
        viewer, now=now, occurred_at=occurred_at, kind=kind, next_meeting=next_meeting, notes=notes
    )
    items: list[Any] = []
    if not errors:
        assert when is not None
        items = _meeting_items(
            viewer,
            errors,
            account_id=account.external_id,
            author=user.email,
            key=retry_key,
            kind=kind,
            when=when,
            upcoming=upcoming,
            attendees=attendees or [],
            notes=notes,
            onboarding_topic=onboarding_topic,
            now=now,
        )
    if not errors:
        try:
            interactions_svc.create_interaction(session, interaction_in=items[0], now=now)
        except InvalidInput as exc:
            for fe in exc.errors:
                errors[_FORM_FIELDS.get(fe.field.split("[")[0], "notes")] = _("Check this field.")
    if errors:
        values = {
            "account": account,
            "can_edit": True,
            "errors": errors,
            "saved": False,
            **meeting_form(viewer, session, account, **submitted),
        }
        if not htmx.is_htmx(viewer.request):
            values = page_context(
                session, viewer, account, **{k: v for k, v in values.items() if k in ("errors", "form")}
            )
        return show(viewer, "accounts/detail.html", values, block="meeting_form", status_code=422)
    for item in items[1:]:
        interactions_svc.create_interaction(session, interaction_in=item, now=now)
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#timeline")
    values = {
        "account": account,
        "can_edit": True,
        "errors": {},
        "saved": True,
        **meeting_form(viewer, session, account),
    }
    response = show(viewer, "accounts/detail.html", values, block="meeting_form")
    return htmx.trigger(response, "timeline-changed")


#: Where a service's field name shows up on the form.
_FORM_FIELDS = {
    "occurred_at": "occurred_at",
    "type": "kind",
    "attendees": "attendees",
    "contacts": "attendees",
    "body": "notes",
    "notes": "notes",
    "onboarding_topic": "onboarding_topic",
    "scheduled_for": "next_meeting",
}
