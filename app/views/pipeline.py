"""The expansion pipeline (``/pipeline``): opportunities by stage with weighted amounts, the
pipeline by industry tier, suggestions from expansion signals, and CSV export.

Filters live in the query string (a shareable URL); htmx asks for the ``results`` block and the
URL is pushed. A stage change is a small form per row: without JavaScript it posts and is
redirected back (303); with htmx the row is swapped and ``pipeline-changed`` refreshes the totals.
A stale change (someone moved it meanwhile) is answered with the row as it is now and a notice
(409), never a silent overwrite.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form
from sqlmodel import Session
from starlette.responses import Response

from app.accounts import portfolio as portfolio_svc
from app.accounts import service as accounts_svc
from app.auth.users import get_user_by_email
from app.deps import CurrentUserDep, EditorUserDep, NowDep, SessionDep
from app.errors import InvalidInput, PreconditionFailed
from app.expansion import service as svc
from app.expansion.schemas import OpportunityCreate
from app.models import LOST_REASONS, OPPORTUNITY_KINDS, SEGMENTS
from app.scoring import expansion as pure
from app.types import DbId
from app.views import htmx
from app.views.account_page import new_form, opportunities_context, opportunity_labels, page_context
from app.views.downloads import csv_response
from app.views.page import Viewer, ViewerDep, account_url, fragment, show, url_with

router = APIRouter()
TEMPLATE = "pipeline/index.html"
PANEL = "accounts/_opportunities.html"


def signal_facts(viewer: Viewer, kind: str, data: dict[str, Any]) -> str:
    """The facts that fired an expansion signal, in words."""
    l10n = viewer.l10n
    if kind == "seats_nearly_full":
        return viewer._(
            "%(users)s of %(seats)s seats used in the last 30 days (%(share)s); "
            "suggests %(extra)s more seats.",
            users=l10n.number(data.get("active_users_30d")),
            seats=l10n.number(data.get("licensed_seats")),
            share=l10n.percent(data.get("seat_use")),
            extra=l10n.number(data.get("extra_seats")),
        )
    if kind == "usage_growth":
        return viewer._(
            "Events up %(growth)s: %(recent)s in the last %(days)s days against %(prior)s before.",
            growth=l10n.percent(data.get("growth")),
            recent=l10n.number(data.get("events_recent")),
            prior=l10n.number(data.get("events_prior")),
            days=l10n.number(data.get("window_days")),
        )
    return ""


# -- filters ------------------------------------------------------------------------------------


def _params(
    session: Session, user: Any, *, owner: str | None, segment: str | None, tier: str | None
) -> tuple[dict[str, Any], svc.Filters]:
    """The filters as shown (unknown values fall back to "any") and as the service takes them.
    A CSM starts on their own accounts; admins and viewers on everyone's."""
    choice = (owner or "").strip().lower() or ("me" if user.role == "csm" else "all")
    owner_id: DbId | None = None
    if choice == "me":
        owner_id = user.id
    elif choice == "none":
        owner_id = 0
    elif choice != "all":
        found = get_user_by_email(session, choice)
        if found is None:
            choice = "all"
        else:
            owner_id = found.id
    segment = segment if segment in SEGMENTS else None
    tier = tier if tier in svc.TIERS else None
    params = {"owner": choice, "segment": segment, "tier": tier}
    return params, svc.Filters(owner_id=owner_id, segment=segment, tier=tier)


def _suggestion_values(viewer: Viewer, items: list[svc.Suggestion]) -> list[dict[str, Any]]:
    return [{"s": s, "facts": signal_facts(viewer, s.signal.kind, s.signal.data)} for s in items]


def results_values(
    session: Session,
    viewer: Viewer,
    params: dict[str, Any],
    filters: svc.Filters,
) -> dict[str, Any]:
    """The results block: totals by stage and tier, opportunities grouped by stage, suggestions."""
    today = viewer.today
    items = svc.list_opportunities(session, filters=filters, page=None, today=today).items
    groups = [(stage, [v for v in items if v.opportunity.stage == stage]) for stage in pure.STAGES]
    return {
        "params": params,
        "summary": svc.pipeline(session, filters=filters, today=today),
        "groups": groups,
        "count": len(items),
        "suggestions": _suggestion_values(viewer, svc.suggestions(session, filters=filters, today=today)),
        "probabilities": dict(pure.PipelineRules().probabilities),
        "signal_rules": pure.SignalRules(),
        "owners": portfolio_svc.owners(session),
        "segments": SEGMENTS,
        "tiers": svc.TIERS,
        "stages": pure.STAGES,
        "lost_reasons": LOST_REASONS,
        "labels": opportunity_labels(viewer),
        "can_edit": viewer.can_edit,
        "row_errors": {},
        "row_notices": {},
        "notice": None,
        "csv_url": url_with("/pipeline.csv", params),
    }


def _canonical(params: dict[str, Any], role: str) -> str:
    default_owner = "me" if role == "csm" else "all"
    return url_with("/pipeline", params, owner=None if params["owner"] == default_owner else params["owner"])


@router.get("/pipeline")
def pipeline_page(
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    owner: str | None = None,
    segment: str | None = None,
    tier: str | None = None,
    part: str | None = None,
) -> Response:
    """The pipeline, filtered; the ``results`` block (or ``summary`` alone) for htmx."""
    params, filters = _params(session, user, owner=owner, segment=segment, tier=tier)
    values = results_values(session, viewer, params, filters)
    if part == "summary" and htmx.is_htmx(viewer.request):
        return fragment(viewer, TEMPLATE, values, block="summary")
    response = show(viewer, TEMPLATE, values, block="results")
    if htmx.is_htmx(viewer.request):
        htmx.push_url(response, _canonical(params, user.role))
    return response


CSV_COLUMNS = (
    "id",
    "account_id",
    "account_name",
    "segment",
    "industry",
    "tier",
    "kind",
    "title",
    "stage",
    "amount",
    "currency",
    "probability",
    "weighted_amount",
    "expected_close_on",
    "closed_on",
    "lost_reason",
    "source",
    "owner",
    "updated_at",
)


@router.get("/pipeline.csv")
def pipeline_csv(
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    owner: str | None = None,
    segment: str | None = None,
    tier: str | None = None,
) -> Response:
    """The filtered opportunities as CSV (UTF-8 with a byte order mark, so spreadsheets read
    Japanese names correctly)."""
    _, filters = _params(session, user, owner=owner, segment=segment, tier=tier)
    items = svc.list_opportunities(session, filters=filters, page=None, today=viewer.today).items
    rows = [
        [
            "" if row[c] is None else (row[c].isoformat() if isinstance(row[c], dt.date) else row[c])
            for c in CSV_COLUMNS
        ]
        for row in (svc.public(view) for view in items)
    ]
    return csv_response(f"pipeline-{viewer.today.isoformat()}.csv", [list(CSV_COLUMNS), *rows])


# -- stage changes ------------------------------------------------------------------------------


def _version(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _safe_next(value: str, fallback: str) -> str:
    """Only our own pages: a path under /pipeline or /accounts/ (never another site)."""
    if value.startswith(("/pipeline", "/accounts/")) and not value.startswith("//"):
        return value
    return fallback


def _row_response(
    session: Session,
    viewer: Viewer,
    user: Any,
    opportunity_id: DbId,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    panel: bool = False,
    next_url: str = "/pipeline",
) -> Response:
    today = viewer.today
    row = svc.get_opportunity(session, opportunity_id)
    view = svc.view_of(session, row, today=today)
    if panel:
        values = opportunities_context(session, viewer, view.account)
        values["opp_errors"] = {opportunity_id: errors} if errors else {}
        values["opp_notices"] = {opportunity_id: notice} if notice else {}
        if not htmx.is_htmx(viewer.request):
            full = page_context(session, viewer, view.account)
            full.update({k: values[k] for k in ("opp_errors", "opp_notices")})
            return show(viewer, "accounts/detail.html", full, status_code=status_code)
        return fragment(viewer, PANEL, values, block="opportunities", status_code=status_code)
    params, filters = _params(session, user, owner=None, segment=None, tier=None)
    values = results_values(session, viewer, params, filters)
    values["row_errors"] = {opportunity_id: errors} if errors else {}
    values["row_notices"] = {opportunity_id: notice} if notice else {}
    if not htmx.is_htmx(viewer.request):
        values["notice"] = notice
        return show(viewer, TEMPLATE, values, status_code=status_code)
    values["item"] = view
    values["next_url"] = next_url
    response = fragment(viewer, TEMPLATE, values, block="row", status_code=status_code)
    if status_code == 200:
        htmx.trigger(response, "pipeline-changed")
    return response


def _stale_notice(session: Session, viewer: Viewer, opportunity_id: DbId) -> str:
    row = svc.get_opportunity(session, opportunity_id)
    who = portfolio_svc.user_names(session, [row.updated_by]).get(row.updated_by, row.updated_by)
    return viewer._("Changed by %(who)s meanwhile — reload to see their version before editing.", who=who)


@router.post("/pipeline/opportunities/{opportunity_id}/stage")
def change_stage(
    opportunity_id: DbId,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    version: Annotated[str, Form()] = "0",
    stage: Annotated[str, Form()] = "",
    lost_reason: Annotated[str, Form()] = "",
    panel: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Move an opportunity to another stage (a lost one with its reason)."""
    in_panel = panel == "1"
    row = svc.get_opportunity(session, opportunity_id)
    fallback = "/pipeline"
    if in_panel:
        account = svc.view_of(session, row, today=viewer.today).account
        fallback = f"{account_url(account.external_id)}#opportunities"
    next_url = _safe_next(next, fallback)
    errors: dict[str, str] = {}
    if stage not in pure.STAGES:
        errors["stage"] = viewer._("Choose a stage.")
    elif stage == "lost" and lost_reason not in LOST_REASONS:
        errors["lost_reason"] = viewer._("Say why it was lost.")
    if not errors:
        changes: dict[str, Any] = {"stage": stage}
        changes["lost_reason"] = lost_reason if stage == "lost" else None
        try:
            svc.update_opportunity(
                session,
                opportunity_id=opportunity_id,
                changes=changes,
                expected_version=_version(version),
                actor=user.email,
                now=now,
                today=viewer.today,
            )
        except PreconditionFailed:
            return _row_response(
                session,
                viewer,
                user,
                opportunity_id,
                status_code=409,
                notice=_stale_notice(session, viewer, opportunity_id),
                panel=in_panel,
                next_url=next_url,
            )
        except InvalidInput as exc:
            errors = {e.field: _field_message(viewer, e.field) for e in exc.errors}
    if errors:
        return _row_response(
            session,
            viewer,
            user,
            opportunity_id,
            status_code=422,
            errors=errors,
            panel=in_panel,
            next_url=next_url,
        )
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, next_url)
    return _row_response(session, viewer, user, opportunity_id, panel=in_panel, next_url=next_url)


def _field_message(viewer: Viewer, field: str) -> str:
    """The page's words for a service's complaint about a field."""
    _ = viewer._
    return {
        "amount": _("Enter an amount above 0 from the proposal stage on."),
        "expected_close_on": _("A committed opportunity needs an expected close date."),
        "lost_reason": _("Say why it was lost."),
        "stage": _("Choose a stage."),
    }.get(field, _("Check this field."))


# -- suggestions --------------------------------------------------------------------------------


@router.post("/pipeline/suggestions")
def create_from_suggestion(
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    account_id: Annotated[str, Form()] = "",
    signal: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    segment: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
) -> Response:
    """Create the opportunity a suggestion proposes; the results again (or 303 to the page)."""
    params, filters = _params(session, user, owner=owner or None, segment=segment or None, tier=tier or None)
    notice = None
    try:
        created = svc.create_from_suggestion(
            session, account_id=account_id, signal=signal, actor=user.email, now=now, today=viewer.today
        )
    except InvalidInput:
        notice = viewer._("This suggestion no longer applies: the signal has cleared.")
    if notice is None and not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, _canonical(params, user.role) + f"#opp-{created.opportunity.id}")
    values = results_values(session, viewer, params, filters)
    values["notice"] = notice
    return show(viewer, TEMPLATE, values, block="results", status_code=422 if notice else 200)


# -- the account page's panel -------------------------------------------------------------------


def parse_money(text: str) -> Decimal | None:
    """An amount typed by a person ("1,200,000", "¥1200000", "1200000.5"); None if not one."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
    if not cleaned:
        return Decimal(0)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= Decimal("1e16"):
        return None
    return value.quantize(Decimal("0.01"))


def _check_opportunity_form(
    viewer: Viewer,
    *,
    kind: str,
    stage: str,
    amount: str,
    expected_close_on: str,
    title: str,
    notes: str,
) -> tuple[dict[str, str], Decimal | None, dt.date | None]:
    """Each bad field's message for a new opportunity's form, with the amount and the expected
    close date parsed."""
    _ = viewer._
    errors: dict[str, str] = {}
    if kind not in OPPORTUNITY_KINDS:
        errors["kind"] = _("Choose a kind.")
    if stage not in pure.OPEN_STAGES:
        errors["stage"] = _("Choose a stage.")
    value = parse_money(amount)
    if value is None:
        errors["amount"] = _("Enter an amount, e.g. 1200000.")
    close_on = None
    if expected_close_on.strip():
        try:
            close_on = dt.date.fromisoformat(expected_close_on.strip())
        except ValueError:
            errors["expected_close_on"] = _("Enter a date, or leave it empty.")
    if len(title) > 255:
        errors["title"] = _("The title is too long.")
    if len(notes) > 10_000:
        errors["notes"] = _("The notes are too long.")
    return errors, value, close_on

@router.post("/accounts/{account_id}/opportunities")
def add_opportunity(
    account_id: str,
    user: EditorUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    kind: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    stage: Annotated[str, Form()] = "identified",
    expected_close_on: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
) -> Response:
    """Add an opportunity to the account: 303 back, or the refreshed panel for htmx; 422 with
    each field's message."""
    account = accounts_svc.get_account(session, account_id)
    submitted = {
        "kind": kind,
        "title": title,
        "amount": amount,
        "stage": stage,
        "expected_close_on": expected_close_on,
        "notes": notes,
        "key": key,
    }
    errors, value, close_on = _check_opportunity_form(
        viewer,
        kind=kind,
        stage=stage,
        amount=amount,
        expected_close_on=expected_close_on,
        title=title,
        notes=notes,
    )
    if not errors:
        try:
            svc.create_opportunity(
                session,
                opportunity_in=OpportunityCreate(
                    account_id=account.external_id,
                    kind=kind,
                    stage=stage,
                    title=title.strip() or None,
                    amount=value,
                    expected_close_on=close_on,
                    notes=notes.strip() or None,
                    external_id=f"web-{key.strip()[:64]}" if key.strip() else None,
                ),
                actor=user.email,
                now=now,
                today=viewer.today,
            )
        except InvalidInput as exc:
            errors = {e.field: _field_message(viewer, e.field) for e in exc.errors}
    if errors:
        values = opportunities_context(session, viewer, account)
        values.update(new_form(**submitted))
        values["opp_form_errors"] = errors
        if not htmx.is_htmx(viewer.request):
            full = page_context(session, viewer, account)
            full.update({k: values[k] for k in ("opp_form", "opp_form_errors")})
            return show(viewer, "accounts/detail.html", full, status_code=422)
        return fragment(viewer, PANEL, values, block="opportunities", status_code=422)
    if not htmx.is_htmx(viewer.request):
        return htmx.redirect(viewer.request, f"{account_url(account.external_id)}#opportunities")
    values = opportunities_context(session, viewer, account)
    values["opp_saved"] = True
    return fragment(viewer, PANEL, values, block="opportunities")
