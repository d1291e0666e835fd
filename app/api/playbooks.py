"""Playbooks: versioned rule sets that make tasks; the action catalog; JSON export and import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep
from app.lifecycle import playbooks as svc
from app.lifecycle.schemas import (
    ActionPublic,
    PlaybookActive,
    PlaybookCreate,
    PlaybookDocument,
    PlaybookPublic,
    PlaybookPublish,
    PlaybookVersionPublic,
    RuleModel,
)
from app.scoring.playbooks import ACTIONS, Rule, rule_from_dict
from app.types import DbId
from app.validation import NO_TAGS, route_class

router = APIRouter(tags=["playbooks"], responses=ERRORS, route_class=route_class(NO_TAGS))


def _rules(rules_in: Sequence[RuleModel]) -> list[Rule]:
    return [rule_from_dict(r.model_dump()) for r in rules_in]


def playbook_public(view: svc.PlaybookView) -> PlaybookPublic:
    p, v = view.playbook, view.version
    return PlaybookPublic(
        id=p.id or 0, name=p.name, description=p.description, is_active=p.is_active,
        version=v.version, published_at=v.published_at, published_by=v.published_by, note=v.note,
        rules=list(v.rules), created_at=p.created_at, updated_at=p.updated_at,
    )


@router.get("/playbooks/actions", response_model=list[ActionPublic])
def list_actions(_key: ReadKeyDep) -> list[ActionPublic]:
    """The action catalog rules choose from (English and Japanese names)."""
    return [ActionPublic(key=a.key, name_en=a.name_en, name_ja=a.name_ja,
                         description=a.description) for a in ACTIONS.values()]


@router.get("/playbooks", response_model=list[PlaybookPublic])
def list_playbooks(session: SessionDep, _key: ReadKeyDep) -> list[PlaybookPublic]:
    """Every playbook with its current version's rules."""
    return [playbook_public(v) for v in svc.list_playbooks(session)]


@router.post(
    "/playbooks", status_code=status.HTTP_201_CREATED, response_model=PlaybookPublic,
    responses={**CONFLICT, **BODY},
)
def create_playbook(
    playbook_in: PlaybookCreate, session: SessionDep, now: NowDep, key: AdminKeyDep,
    response: Response,
) -> PlaybookPublic:
    """Create a playbook; its rules are version 1 and apply from the next sync."""
    view = svc.create_playbook(
        session, name=playbook_in.name, description=playbook_in.description,
        rules=_rules(playbook_in.rules), note=playbook_in.note, actor=key.name, now=now,
    )
    response.headers["Location"] = f"/api/v1/playbooks/{view.playbook.id}"
    return playbook_public(view)


@router.post("/playbooks/default", response_model=PlaybookPublic)
def install_default(session: SessionDep, now: NowDep, _key: AdminKeyDep) -> PlaybookPublic:
    """Install the shipped default playbook if it is missing (changes nothing otherwise)."""
    return playbook_public(svc.ensure_default_playbook(session, now=now))


@router.post(
    "/playbooks/import", response_model=PlaybookPublic,
    responses={**BODY, 201: {"model": PlaybookPublic, "description": "Created, or a new version"}},
)
def import_playbook(
    document: PlaybookDocument, session: SessionDep, now: NowDep, key: AdminKeyDep,
    response: Response,
) -> PlaybookPublic:
    """Import an exported playbook: created (201), a new version (201), or unchanged (200)."""
    view, stored = svc.import_document(
        session, name=document.name, description=document.description,
        rules=_rules(document.rules), actor=key.name, now=now,
    )
    response.status_code = status.HTTP_201_CREATED if stored else status.HTTP_200_OK
    return playbook_public(view)


@router.get("/playbooks/{playbook_id}", response_model=PlaybookPublic, responses=NOT_FOUND)
def get_playbook(
    playbook_id: DbId, session: SessionDep, _key: ReadKeyDep,
    version: Annotated[DbId | None, Query(ge=1, description="Default: the current one")] = None,
) -> PlaybookPublic:
    """A playbook with the rules of its current (or a given) version."""
    if version is not None:
        return playbook_public(svc.get_version(session, playbook_id=playbook_id, version=version))
    return playbook_public(svc.current(session, svc.get_playbook(session, playbook_id)))


@router.get("/playbooks/{playbook_id}/export", response_model=PlaybookDocument,
            responses=NOT_FOUND)
def export_playbook(playbook_id: DbId, session: SessionDep, _key: ReadKeyDep) -> dict[str, Any]:
    """The playbook's current version as a JSON document for ``POST /playbooks/import``."""
    return svc.export_document(svc.current(session, svc.get_playbook(session, playbook_id)))


@router.get("/playbooks/{playbook_id}/versions", response_model=list[PlaybookVersionPublic],
            responses=NOT_FOUND)
def list_versions(
    playbook_id: DbId, session: SessionDep, _key: ReadKeyDep
) -> list[PlaybookVersionPublic]:
    """The playbook's published versions, newest first."""
    return [PlaybookVersionPublic(version=v.version, published_at=v.published_at,
                                  published_by=v.published_by, note=v.note, rules=len(v.rules))
            for v in svc.list_versions(session, playbook_id=playbook_id)]


@router.put("/playbooks/{playbook_id}", response_model=PlaybookPublic,
            responses={**NOT_FOUND, **CONFLICT, **BODY})
def publish_playbook(
    playbook_id: DbId, publish_in: PlaybookPublish, session: SessionDep, now: NowDep,
    key: AdminKeyDep,
) -> PlaybookPublic:
    """Publish the next version of the rules (they replace the current ones as a whole)."""
    return playbook_public(svc.publish(
        session, playbook_id=playbook_id, rules=_rules(publish_in.rules),
        description=publish_in.description, note=publish_in.note, actor=key.name, now=now,
    ))


@router.patch("/playbooks/{playbook_id}", response_model=PlaybookPublic,
              responses={**NOT_FOUND, **BODY})
def set_active(
    playbook_id: DbId, active_in: PlaybookActive, session: SessionDep, now: NowDep,
    _key: AdminKeyDep,
) -> PlaybookPublic:
    """Switch a playbook off (its open tasks close at the next sync) or on again."""
    playbook = svc.set_active(session, playbook_id=playbook_id, active=active_in.is_active, now=now)
    return playbook_public(svc.current(session, playbook))
