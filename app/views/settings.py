"""Settings (admins only): users, API keys, Segment sources, the feature catalog, health models.

New secrets (an API key, a write key) are shown once, on the page that answers their creation,
and never again: only their digests are stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from app.auth import api_keys as keys_svc
from app.auth import users as users_svc
from app.auth import web_auth
from app.auth.last_used import LastUsed
from app.deps import AdminUserDep, NowDep, SessionDep
from app.errors import Conflict, InvalidInput, NotFound
from app.health import assignments as health_assignments
from app.health import models as health_models
from app.ingest import dead_letters as dead_letters_svc
from app.ingest import sources as sources_svc
from app.models import API_SCOPES, USER_ROLES
from app.scoring.health import DEFAULT_BAND_GOOD, DEFAULT_BAND_NORMAL
from app.types import DbId
from app.usage import features as features_svc
from app.views import htmx
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, show

router = APIRouter(prefix="/settings")
#: Set-aside messages listed per source (the API lists up to 500).
DEAD_LETTERS_SHOWN = 20
#: The band cuts shown for a definition that leaves them out (what scoring then uses).
BAND_DEFAULTS = {"band_good": DEFAULT_BAND_GOOD, "band_normal": DEFAULT_BAND_NORMAL}
SECTIONS = (
    "users",
    "keys",
    "sources",
    "features",
    "health",
    "priorities",
    "industries",
    "playbooks",
    "stages",
    "signals",
    "jobs",
)


def _page(
    viewer: Viewer,
    session: Any,
    section: str,
    *,
    status_code: int = 200,
    **values: Any,
) -> Response:
    data: dict[str, Any] = {
        "section": section,
        "sections": SECTIONS,
        "errors": {},
        "secret": None,
        "form": {},
        "published": None,
    }
    if section == "users":
        data.update(users=users_svc.list_users(session), roles=USER_ROLES)
    elif section == "keys":
        keys = keys_svc.list_api_keys(session)
        last_used: LastUsed = viewer.request.app.state.last_used
        data.update(keys=keys, scopes=API_SCOPES, used={k.id: last_used.key_last_used(k) for k in keys})
    elif section == "sources":
        listed = sources_svc.list_sources(session)
        set_aside = dead_letters_svc.count_by_source(session)
        data.update(
            sources=listed,
            set_aside=set_aside,
            applier=dead_letters_svc.applier_health(session),
            dead_letters={
                s.id: dead_letters_svc.dead_letters(session, ref=s.id, limit=DEAD_LETTERS_SHOWN)
                for s in listed
                if s.id in set_aside
            },
        )
    elif section == "features":
        data.update(features=features_svc.list_features(session))
    else:
        models = []
        for model in health_models.list_models(session):
            version = health_models.published_version(session, model.id or 0)
            models.append(
                {"model": model, "version": version, "definition": version.definition if version else None}
            )
        data.update(models=models, band_defaults=BAND_DEFAULTS)
        data.update(
            assignment_rows=assignment_rows(health_assignments.load(session).rules),
            assignment_errors=[],
            rule_labels=[(code, viewer._(label)) for code, label in RULE_LABELS],
        )
    data.update(values)
    return show(viewer, f"settings/{section}.html", data, block="section", status_code=status_code)


#: The assignment rules as the settings page names them (codes: ``app/health/assignments``).
RULE_LABELS = (
    ("segment", N_("Segment is one of")),
    ("industry", N_("Industry is one of")),
    ("plan", N_("Plan is one of")),
    ("trait", N_("Trait holds one of")),
    ("arr_at_least", N_("ARR at least")),
    ("arr_below", N_("ARR below")),
)
#: Empty rows the rules form offers for new rules.
BLANK_RULES = 2


def assignment_rows(rules: Any) -> list[dict[str, Any]]:
    """The rules form's rows: each stored rule in order, then blank rows for new ones."""
    rows = [
        {
            "order": rule.position,
            "model_id": rule.model_id,
            "rule": rule.rule,
            "values": ", ".join(rule.values),
            "key": rule.key or "",
            "amount": "" if rule.amount is None else str(rule.amount),
        }
        for rule in rules
    ]
    blank = {"model_id": None, "rule": "segment", "values": "", "key": "", "amount": ""}
    return rows + [{**blank, "order": len(rows) + i} for i in range(1, BLANK_RULES + 1)]


@router.get("")
def settings_home(user: AdminUserDep, viewer: ViewerDep) -> Response:
    """Settings start at the users."""
    return htmx.redirect(viewer.request, "/settings/users")


@router.get("/{section}")
def settings_section(
    section: str,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    published: DbId | None = None,
) -> Response:
    """One settings section (``published``: the health model version just published)."""
    if section not in SECTIONS:
        raise NotFound(f"no settings section {section!r}")
    return _page(viewer, session, section, published=published)


@router.post("/users")
def create_user(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "csm",
    password: Annotated[str, Form()] = "",
    locale: Annotated[str, Form()] = "ja",
) -> Response:
    """Add a user who can sign in with the given password."""
    form = {"email": email, "name": name, "role": role, "locale": locale}
    try:
        users_svc.create_user(
            session, email=email, name=name, role=role, password=password, locale=locale, now=now
        )
    except InvalidInput as exc:
        return _page(
            viewer,
            session,
            "users",
            status_code=422,
            form=form,
            errors={e.field: e.message for e in exc.errors},
        )
    except Conflict as exc:
        return _page(viewer, session, "users", status_code=409, form=form, errors={"email": exc.detail})
    return htmx.redirect(viewer.request, "/settings/users")


@router.post("/users/{user_id}")
def change_user(
    user_id: DbId,
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    role: Annotated[str | None, Form()] = None,
    active: Annotated[str | None, Form()] = None,
) -> Response:
    """Change a user's role, or deactivate / reactivate them (never yourself)."""
    if user_id == user.id:
        return _page(
            viewer,
            session,
            "users",
            status_code=422,
            errors={"user": viewer._("You cannot change your own role or access.")},
        )
    web_auth.update_user(
        session, user_id=user_id, role=role, is_active=None if active is None else active == "true", now=now
    )
    return htmx.redirect(viewer.request, "/settings/users")


@router.post("/keys")
def create_key(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "read",
) -> Response:
    """A new API key; its secret is on this answer only."""
    try:
        _, secret = keys_svc.create_api_key(session, name=name, scope=scope, now=now, created_by_id=user.id)
    except InvalidInput as exc:
        return _page(
            viewer,
            session,
            "keys",
            status_code=422,
            form={"name": name, "scope": scope},
            errors={e.field: e.message for e in exc.errors},
        )
    return _page(viewer, session, "keys", secret=secret)


@router.post("/keys/{key_id}/revoke")
def revoke_key(
    key_id: DbId, user: AdminUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep
) -> Response:
    """Revoke an API key at once."""
    keys_svc.revoke_api_key(session, ref=key_id, now=now)
    return htmx.redirect(viewer.request, "/settings/keys")


@router.post("/sources")
def create_source(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    name: Annotated[str, Form()] = "",
) -> Response:
    """A new Segment source; its write key is on this answer only."""
    try:
        _, secret = sources_svc.create_source(session, name=name, now=now)
    except (InvalidInput, Conflict) as exc:
        errors = (
            {e.field: e.message for e in exc.errors}
            if isinstance(exc, InvalidInput)
            else {"name": exc.detail}
        )
        return _page(viewer, session, "sources", status_code=422, form={"name": name}, errors=errors)
    return _page(viewer, session, "sources", secret=secret)


@router.post("/sources/{source_id}/revoke")
def revoke_source(
    source_id: DbId, user: AdminUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep
) -> Response:
    """Revoke a source's write key at once."""
    sources_svc.revoke_source(session, ref=source_id, now=now)
    return htmx.redirect(viewer.request, "/settings/sources")


@router.post("/sources/{source_id}/dead-letters/replay")
def replay_dead_letters(
    source_id: DbId, user: AdminUserDep, viewer: ViewerDep, session: SessionDep
) -> Response:
    """Put a source's set-aside messages back in the ingestion log (after the fix)."""
    dead_letters_svc.replay(session, ref=source_id)
    return htmx.redirect(viewer.request, "/settings/sources")


@router.post("/features")
def create_feature(
    user: AdminUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    now: NowDep,
    key: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    patterns: Annotated[str, Form()] = "",
    is_key: Annotated[str, Form()] = "",
) -> Response:
    """Add a feature to the catalog (patterns one per line or comma-separated)."""
    listed = [p.strip() for p in patterns.replace(",", "\n").splitlines() if p.strip()]
    form = {"key": key, "name": name, "patterns": patterns, "is_key": is_key == "true"}
    try:
        features_svc.create_feature(
            session,
            feature_in=features_svc.FeatureIn(
                key=key.strip(), name=name.strip(), patterns=listed, is_key=is_key == "true"
            ),
            now=now,
        )
    except InvalidInput as exc:
        return _page(
            viewer,
            session,
            "features",
            status_code=422,
            form=form,
            errors={e.field.split("[")[0]: e.message for e in exc.errors},
        )
    except Conflict as exc:
        return _page(viewer, session, "features", status_code=422, form=form, errors={"key": exc.detail})
    return htmx.redirect(viewer.request, "/settings/features")
