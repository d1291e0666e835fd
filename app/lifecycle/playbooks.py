"""Playbooks: named rule sets, stored as published versions; the highest version is current.

Publishing never edits a version: it adds the next one, so every task can name the exact rules
that made it. The shipped default playbook (``app.scoring.playbooks.DEFAULT_RULES``) is installed
on first use. Export and import use one JSON document: ``{"name", "description", "rules"}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.models import Playbook, PlaybookVersion, User
from app.scoring.playbooks import (
    DEFAULT_PLAYBOOK_NAME,
    DEFAULT_RULES,
    Rule,
    problems,
    rule_from_dict,
    rule_to_dict,
)

DEFAULT_DESCRIPTION = (
    "The stage × health flow chart (domain §1) and the onboarding, score-drop, renewal and "
    "tech-touch triggers (§3)."
)


@dataclass(frozen=True)
class PlaybookView:
    playbook: Playbook
    version: PlaybookVersion

    @property
    def rules(self) -> list[Rule]:
        return [rule_from_dict(r) for r in self.version.rules]


def _check(session: Session, rules: Sequence[Rule]) -> None:
    errors = [FieldError(f, m) for f, m in problems(rules)]
    user_ids = {r.assignee_user_id for r in rules if r.assignee_user_id is not None}
    if user_ids:
        found = set(session.exec(select(User.id).where(col(User.id).in_(user_ids))).all())
        for i, rule in enumerate(rules):
            if rule.assignee_user_id is not None and rule.assignee_user_id not in found:
                errors.append(FieldError(f"rules[{i}].assignee_user_id",
                                         f"no user {rule.assignee_user_id}"))
    if errors:
        raise InvalidInput(errors)


def _add_version(
    session: Session, playbook: Playbook, rules: Sequence[Rule], *, note: str | None, actor: str,
    now: dt.datetime,
) -> PlaybookVersion:
    latest = session.exec(
        select(func.max(PlaybookVersion.version)).where(PlaybookVersion.playbook_id == playbook.id)
    ).one()
    assert playbook.id is not None
    version = PlaybookVersion(
        playbook_id=playbook.id, version=(latest or 0) + 1, rules=[rule_to_dict(r) for r in rules],
        note=note, published_by=actor, published_at=now,
    )
    session.add(version)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"playbook {playbook.name!r} was published concurrently; reload and publish again"
        ) from None
    return version


def create_playbook(
    session: Session, *, name: str, description: str | None, rules: Sequence[Rule],
    actor: str, now: dt.datetime, note: str | None = None,
) -> PlaybookView:
    """A new playbook with its rules as version 1; 409 if the name is taken, 422 naming bad rules."""
    _check(session, rules)
    if session.exec(select(Playbook).where(Playbook.name == name)).first() is not None:
        raise Conflict(f"a playbook named {name!r} already exists")
    playbook = Playbook(name=name, description=description, created_at=now, updated_at=now)
    session.add(playbook)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a playbook named {name!r} already exists") from None
    return PlaybookView(playbook, _add_version(session, playbook, rules, note=note, actor=actor,
                                               now=now))


def ensure_default_playbook(session: Session, *, now: dt.datetime) -> PlaybookView:
    """The shipped default playbook, installed if it is not there yet."""
    playbook = session.exec(select(Playbook).where(Playbook.name == DEFAULT_PLAYBOOK_NAME)).first()
    if playbook is not None:
        return current(session, playbook)
    return create_playbook(session, name=DEFAULT_PLAYBOOK_NAME, description=DEFAULT_DESCRIPTION,
                           rules=DEFAULT_RULES, actor="system", now=now)


def get_playbook(session: Session, playbook_id: int) -> Playbook:
    playbook = session.get(Playbook, playbook_id)
    if playbook is None:
        raise NotFound(f"no playbook {playbook_id}")
    return playbook


def current(session: Session, playbook: Playbook) -> PlaybookView:
    """The playbook with its current (highest) version."""
    version = session.exec(
        select(PlaybookVersion).where(PlaybookVersion.playbook_id == playbook.id)
        .order_by(col(PlaybookVersion.version).desc()).limit(1)
    ).one()
    return PlaybookView(playbook, version)


def get_version(session: Session, *, playbook_id: int, version: int) -> PlaybookView:
    playbook = get_playbook(session, playbook_id)
    row = session.exec(select(PlaybookVersion).where(
        PlaybookVersion.playbook_id == playbook_id, PlaybookVersion.version == version)).first()
    if row is None:
        raise NotFound(f"playbook {playbook_id} has no version {version}")
    return PlaybookView(playbook, row)


def list_versions(session: Session, *, playbook_id: int) -> list[PlaybookVersion]:
    get_playbook(session, playbook_id)
    return list(session.exec(select(PlaybookVersion).where(
        PlaybookVersion.playbook_id == playbook_id).order_by(col(PlaybookVersion.version).desc())
    ).all())


def list_playbooks(session: Session, *, include_inactive: bool = True) -> list[PlaybookView]:
    """Every playbook with its current version, by name (one query)."""
    latest = (
        select(PlaybookVersion.playbook_id, func.max(PlaybookVersion.version).label("version"))
        .group_by(col(PlaybookVersion.playbook_id)).subquery()
    )
    query = (
        select(Playbook, PlaybookVersion)
        .join(latest, latest.c.playbook_id == Playbook.id)
        .join(PlaybookVersion, (col(PlaybookVersion.playbook_id) == latest.c.playbook_id)
              & (col(PlaybookVersion.version) == latest.c.version))
        .order_by(col(Playbook.name))
    )
    if not include_inactive:
        query = query.where(col(Playbook.is_active).is_(True))
    return [PlaybookView(p, v) for p, v in session.exec(query).all()]


def publish(
    session: Session, *, playbook_id: int, rules: Sequence[Rule], description: str | None,
    note: str | None, actor: str, now: dt.datetime,
) -> PlaybookView:
    """Publish the next version of a playbook's rules; it is used from the next sync on."""
    playbook = get_playbook(session, playbook_id)
    _check(session, rules)
    if description is not None:
        playbook.description = description
    playbook.updated_at = now
    session.add(playbook)
    return PlaybookView(playbook, _add_version(session, playbook, rules, note=note, actor=actor,
                                               now=now))


def set_active(session: Session, *, playbook_id: int, active: bool, now: dt.datetime) -> Playbook:
    """Switch a playbook off (its open tasks close at the next sync) or back on."""
    playbook = get_playbook(session, playbook_id)
    playbook.is_active = active
    playbook.updated_at = now
    session.add(playbook)
    session.flush()
    return playbook


def export_document(view: PlaybookView) -> dict[str, Any]:
    """The JSON document that ``import_document`` reads back."""
    return {"name": view.playbook.name, "description": view.playbook.description,
            "version": view.version.version, "rules": list(view.version.rules)}


def import_document(
    session: Session, *, name: str, description: str | None, rules: Sequence[Rule], actor: str,
    now: dt.datetime,
) -> tuple[PlaybookView, bool]:
    """Create the playbook, or publish the rules as its next version when they differ from the
    current ones; returns the playbook and whether anything new was stored."""
    playbook = session.exec(select(Playbook).where(Playbook.name == name)).first()
    if playbook is None:
        return create_playbook(session, name=name, description=description, rules=rules,
                               actor=actor, now=now, note="imported"), True
    view = current(session, playbook)
    if view.version.rules == [rule_to_dict(r) for r in rules]:
        return view, False
    return publish(session, playbook_id=playbook.id or 0, rules=rules, description=description,
                   note="imported", actor=actor, now=now), True
