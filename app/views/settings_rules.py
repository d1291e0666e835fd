"""Settings for what drives the weekly list: priority weights (with their effect on this week's
list before saving), industry tiers (with a manual override), playbook rules, and the stage and
signal rules.

Every save adds a version; nothing is edited in place.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from app.accounts import industries as industries_svc
from app.deps import AdminUserDep, NowDep, SessionDep
from app.errors import Conflict, InvalidInput
from app.lifecycle import playbooks as playbooks_svc
from app.lifecycle import rules as rules_svc
from app.lifecycle import stages as stages_svc
from app.lifecycle.schemas import Rules
from app.priorities import service as priorities_svc
from app.scoring.playbooks import ACTIONS, rule_from_dict
from app.scoring.priorities import PriorityWeights
from app.types import DbId
from app.views import htmx
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, show
from app.views.settings import SECTIONS
from app.views.week import FACTOR_LABELS, STAGE_LABELS

router = APIRouter(prefix="/settings")
SECTION_NAMES = (
    N_("settings:priorities"),
    N_("settings:industries"),
    N_("settings:playbooks"),
    N_("settings:stages"),
    N_("settings:signals"),
)
RULES: TypeAdapter[list[Any]] = TypeAdapter(Rules)

#: The weights a form shows, in order, with their labels (the rest keep their values).
WEIGHT_FIELDS = (
    ("health_deficit", N_("Health deficit: points at the worst score")),
    ("missing_score_deficit", N_("No score yet counts as this share of the worst (0–1)")),
    ("per_meeting_month", N_("Points per month without a meeting")),
    ("meeting_cap_months", N_("…counted up to this many months")),
    ("weak_relationship", N_("Weak key-person relationship: points at motivation 1")),
    ("onboarding", N_("Onboarding: points in the first days of the contract")),
    ("onboarding_days", N_("…for this many days")),
    ("unanswered_outreach", N_("Outreach left unanswered")),
    ("outreach_grace_days", N_("…after this many days")),
    ("renewal_window", N_("Renewal in 3–6 months")),
    ("per_signal", N_("Points per active signal")),
    ("signals_cap", N_("…counted up to this many signals")),
    ("target_multiplier", N_("Target industry multiplier")),
    ("mogura_dampener", N_("Mogura, not target: multiplier")),
    ("suppress_meeting_days", N_("Suppress when a meeting is booked within (days)")),
    ("suppress_touch_days", N_("Suppress when touched within the last (days)")),
    ("top_n", N_("Rows per CSM")),
)
assert {k for k, _ in WEIGHT_FIELDS} == set(PriorityWeights.__dataclass_fields__)

#: The numbers of the stage and signal rules a form shows, with their labels. The stage for each
#: count of indicators met (``by_count``) is kept as saved.
RULE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "stages": (
        ("star_user_active_days", N_("Star user: active on at least this many days")),
        ("star_user_window_days", N_("…of the last (days)")),
        ("motivated_at", N_("Champion counts as motivated from (1–5)")),
        ("community_min_attendances", N_("Community: at least this many attendances")),
        ("community_window_days", N_("…in the last (days)")),
        ("champion_active_days_low", N_("Derived motivation +1 from this many active days")),
        ("champion_active_days_high", N_("…and +1 more from this many")),
        ("champion_meetings_cap", N_("…+1 per meeting attended, up to")),
    ),
    "signals": (
        ("onboarding_days", N_("Onboarding checkpoint: days after contract start")),
        ("onboarding_watch_days", N_("…watched for (days)")),
        ("score_drop_share", N_("Score drop: share of the scale (0–1)")),
        ("score_drop_window_days", N_("…from the peak of the last (days)")),
        ("renewal_min_days", N_("Renewal window: from (days before renewal)")),
        ("renewal_max_days", N_("…to (days before renewal)")),
        ("no_meeting_days", N_("No meeting for (days)")),
        ("champion_quiet_days", N_("Champion quiet for (days)")),
        ("nps_detractor_max", N_("NPS detractor: score at most")),
        ("nps_recent_days", N_("…answered in the last (days)")),
        ("goals_unverified_days", N_("Goals not verified for (days)")),
        ("usage_collapse_ratio", N_("Usage collapse: below this share of the usual (0–1)")),
        ("usage_min_baseline", N_("…when the usual is at least (events per 14 days)")),
        ("stale_days", N_("No data for (days)")),
        ("sentiment_high", N_("Sentiment reads “well” from")),
        ("sentiment_low", N_("Sentiment reads “badly” up to")),
    ),
}
RULE_TITLES = {"stages": N_("Stage rules"), "signals": N_("Signal rules")}
RULE_HELP = {
    "stages": N_(
        "An account's stage counts three indicators: a star user, a motivated champion and community "
        "attendance. All three: Success; two: Growth; one: Rescue; none: Mogura. The numbers below "
        "decide when an indicator is met."
    ),
    "signals": N_(
        "Signals flag accounts that need a look: each fires when its numbers below are crossed, and "
        "clears when they are not."
    ),
}


async def _number_fields(request: Request, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The form's filled fields of ``fields``: numbers as numbers (whole ones as ints), anything
    else as typed, for the rules' validation to name."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key, _ in fields:
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            try:
                out[key] = float(value.replace(",", "."))
            except ValueError:
                out[key] = value
    return _numbers(out)


def _expected_version(text: object) -> int | None:
    """The version the form was loaded at (blank: none), for the save's stale-edit check."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput.field("expected_version", "expected_version must be a whole number") from None


def _numbers(config: dict[str, Any]) -> dict[str, Any]:
    """Whole numbers as ints (the rules refuse 5.0 for a count only when it is not whole)."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in config.items()}


def _priorities_page(
    viewer: Viewer,
    session: Any,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: Any = None,
    saved: DbId | None = None,
) -> Response:
    current = rules_svc.priority_weights(session)
    values = current.rules.to_json()
    return show(
        viewer,
        "settings/priorities.html",
        {
            "section": "priorities",
            "sections": SECTIONS,
            "current": current,
            "form": {**values, **(form or {})},
            "fields": WEIGHT_FIELDS,
            "errors": errors or {},
            "versions": rules_svc.history(session, "priorities")[:10],
            "preview": preview,
            "saved": saved,
            "week": priorities_svc.week_of(viewer.today),
            "factor_labels": FACTOR_LABELS,
        },
        block="section",
        status_code=status_code,
    )


@router.get("/priorities")
def priorities_settings(user: AdminUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """The priority weights in force, their versions, and a form to try and save new ones."""
    return _priorities_page(viewer, session)


@router.post("/priorities/preview")
async def preview_weights(
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """This week's list as the submitted weights would rank it, beside today's ranks (not saved)."""
    config = await _number_fields(request, WEIGHT_FIELDS)
    try:
        _, rows = priorities_svc.preview(
            session,
            week=priorities_svc.week_of(viewer.today),
            config_in=config,
            tz=viewer.settings.tz,
            now=now,
        )
    except InvalidInput as exc:
        errors = {"config": "; ".join(e.message for e in exc.errors)}
        return _priorities_page(viewer, session, status_code=422, form=config, errors=errors)
    moved = [r for r in rows if r.before_rank != r.after_rank]
    preview = {
        "rows": rows,
        "moved": len(moved),
        "entering": sum(1 for r in rows if r.before_rank is None),
        "leaving": sum(1 for r in rows if r.after_rank is None),
    }
    return _priorities_page(viewer, session, form=config, preview=preview)


@router.post("/priorities")
async def save_weights(
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    note: Annotated[str | None, Form()] = None,
    expected_version: Annotated[str | None, Form()] = None,
) -> Response:
    """Saves the weights as a new version (this week's stored list keeps the weights it used)."""
    config = await _number_fields(request, WEIGHT_FIELDS)
    try:
        expected = _expected_version(expected_version)
        saved = rules_svc.save(
            session,
            kind="priorities",
            config_in=config,
            author=user.email,
            note=(note or "").strip() or None,
            now=now,
            expected_version=expected,
        )
    except InvalidInput as exc:
        errors = {"config": "; ".join(e.message for e in exc.errors)}
        return _priorities_page(viewer, session, status_code=422, form=config, errors=errors)
    except (Conflict, ValueError) as exc:
        return _priorities_page(
            viewer, session, status_code=409, form=config, errors={"config": getattr(exc, "detail", str(exc))}
        )
    return htmx.redirect(viewer.request, f"/settings/priorities?saved={saved.version}")


# -- industries ----------------------------------------------------------------------------------


def _industries_page(
    viewer: Viewer,
    session: Any,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    return show(
        viewer,
        "settings/industries.html",
        {
            "section": "industries",
            "sections": SECTIONS,
            "industries": industries_svc.list_industries(session, as_of=viewer.today),
            "errors": errors or {},
        },
        block="section",
        status_code=status_code,
    )


@router.get("/industries")
def industries_settings(user: AdminUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """Each industry's renewal and expansion record, its tier, and any manual override."""
    return _industries_page(viewer, session)


@router.post("/industries/override")
def override_industry(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    industry: Annotated[str, Form()],
    tier: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Sets (or, with no tier, clears) an industry's tier by hand, with the reason."""
    try:
        if not tier:
            industries_svc.clear_override(session, industry=industry)
        else:
            if not reason.strip():
                raise InvalidInput.field("reason", viewer._("Say why the tier is set by hand"))
            industries_svc.set_override(
                session, industry=industry, tier=int(tier), reason=reason.strip(), actor=user.email, now=now
            )
    except InvalidInput as exc:
        return _industries_page(
            viewer, session, status_code=422, errors={industry: "; ".join(e.message for e in exc.errors)}
        )
    except ValueError:
        return _industries_page(viewer, session, status_code=422, errors={industry: viewer._("Pick a tier")})
    return htmx.redirect(viewer.request, "/settings/industries")


# -- playbooks -----------------------------------------------------------------------------------


def _playbooks_page(
    viewer: Viewer,
    session: Any,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    drafts: dict[int, str] | None = None,
) -> Response:
    views = playbooks_svc.list_playbooks(session)
    return show(
        viewer,
        "settings/playbooks.html",
        {
            "section": "playbooks",
            "sections": SECTIONS,
            "playbooks": views,
            "actions": ACTIONS,
            "errors": errors or {},
            "drafts": drafts or {},
            "documents": {
                v.playbook.id: json.dumps(list(v.version.rules), ensure_ascii=False, indent=2) for v in views
            },
        },
        block="section",
        status_code=status_code,
    )


@router.get("/playbooks")
def playbooks_settings(user: AdminUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """The playbooks: their rules (conditions → action, due, assignee) and versions."""
    return _playbooks_page(viewer, session)


@router.post("/playbooks/{playbook_id}")
def publish_playbook(
    playbook_id: DbId,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    rules: Annotated[str, Form()],
    note: Annotated[str | None, Form()] = None,
) -> Response:
    """Publishes edited rules (JSON) as the playbook's next version, after validating them."""
    try:
        parsed = RULES.validate_json(rules)
        rule_objects = [rule_from_dict(r.model_dump()) for r in parsed]
        playbooks_svc.publish(
            session,
            playbook_id=playbook_id,
            rules=rule_objects,
            description=None,
            note=(note or "").strip() or None,
            actor=user.email,
            now=now,
        )
    except InvalidInput as exc:
        return _playbooks_page(
            viewer,
            session,
            status_code=422,
            drafts={playbook_id: rules},
            errors={str(playbook_id): exc.detail},
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _playbooks_page(
            viewer, session, status_code=422, drafts={playbook_id: rules}, errors={str(playbook_id): problems}
        )
    return htmx.redirect(viewer.request, "/settings/playbooks")


# -- stage and signal rules ----------------------------------------------------------------------


def _rules_page(
    viewer: Viewer,
    session: Any,
    kind: str,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: DbId | None = None,
) -> Response:
    current = rules_svc.current(session, kind)
    return show(
        viewer,
        "settings/rules.html",
        {
            "section": kind,
            "sections": SECTIONS,
            "kind": kind,
            "current": current,
            "title": RULE_TITLES[kind],
            "help": RULE_HELP[kind],
            "form": {**current.rules.to_json(), **(form or {})},
            "fields": RULE_FIELDS[kind],
            "errors": errors or {},
            "versions": rules_svc.history(session, kind)[:10],
            "saved": saved,
            "counts": stages_svc.stage_counts(session) if kind == "stages" else None,
            "stage_labels": STAGE_LABELS,
        },
        block="section",
        status_code=status_code,
    )


@router.get("/stages")
def stage_settings(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    saved: DbId | None = None,
) -> Response:
    """The stage rules in force, how many accounts are in each stage, and a form for new rules."""
    return _rules_page(viewer, session, "stages", saved=saved)


@router.get("/signals")
def signal_settings(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    saved: DbId | None = None,
) -> Response:
    """The signal rules in force and a form for new ones."""
    return _rules_page(viewer, session, "signals", saved=saved)


async def _save_rules(
    kind: str,
    request: Request,
    user: Any,
    viewer: Viewer,
    session: Any,
    now: Any,
) -> Response:
    form = await request.form()
    note, expected_text = form.get("note"), form.get("expected_version")
    config = await _number_fields(request, RULE_FIELDS[kind])
    try:
        expected = _expected_version(expected_text)
        saved = rules_svc.save(
            session,
            kind=kind,
            config_in={**rules_svc.current(session, kind).rules.to_json(), **config},
            author=user.email,
            note=(note.strip() or None) if isinstance(note, str) else None,
            now=now,
            expected_version=expected,
        )
    except InvalidInput as exc:
        errors = {"config": "; ".join(e.message for e in exc.errors)}
        return _rules_page(viewer, session, kind, status_code=422, form=config, errors=errors)
    except (Conflict, ValueError) as exc:
        return _rules_page(
            viewer,
            session,
            kind,
            status_code=409,
            form=config,
            errors={"config": getattr(exc, "detail", str(exc))},
        )
    return htmx.redirect(viewer.request, f"/settings/{kind}?saved={saved.version}")


@router.post("/stages")
async def save_stage_rules(
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Saves the stage rules as a new version; the next daily run assesses stages with them."""
    return await _save_rules("stages", request, user, viewer, session, now)


@router.post("/signals")
async def save_signal_rules(
    request: Request,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """Saves the signal rules as a new version; the next daily run detects signals with them."""
    return await _save_rules("signals", request, user, viewer, session, now)
