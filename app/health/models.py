"""Health models: their definitions (validated, and parsed once per stored version), versions,
publishing and the shipped presets.

A model's published version is frozen; editing creates a draft version, publishing it retires the
previous one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.health.spec import ModelSpec, to_model_def
from app.models import HealthModel, HealthModelVersion
from app.scoring import presets
from app.scoring.health import ModelError, validate_model
from app.usage import features as features_svc


def parse_definition(definition: dict[str, Any], *, field: str = "definition") -> ModelSpec:
    """Validate a model definition; 422 naming each bad field (``definition.groups[0]...``)."""
    try:
        spec = ModelSpec.model_validate(definition)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            path = field
            for part in err["loc"]:
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            errors.append(FieldError(path, err["msg"].removeprefix("Value error, ")))
        raise InvalidInput(errors) from None
    try:
        validate_model(to_model_def(spec))
    except ModelError as exc:
        raise InvalidInput.field(f"{field}.{exc.field}", exc.message) from None
    return spec


#: Parsed definitions of stored versions, by version id and definition text (at most
#: ``_SPECS_MAX``; the specs are frozen, so they are shared).
_SPECS: dict[tuple[int | None, str], ModelSpec] = {}
_SPECS_MAX = 64


def version_spec(version: HealthModelVersion) -> ModelSpec:
    """The version's definition parsed (``parse_definition``), once per version and definition:
    scoring, explaining stored scores and reading them parse the same few versions again and
    again. A draft whose definition changes is parsed again."""
    try:
        key = (version.id, json.dumps(version.definition))
    except (TypeError, ValueError):
        return parse_definition(version.definition)
    found = _SPECS.get(key)
    if found is None:
        found = parse_definition(version.definition)
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        _SPECS[key] = found
    return found


def get_model(session: Session, model_id: int) -> HealthModel:
    model = session.get(HealthModel, model_id)
    if model is None:
        raise NotFound(f"no health model {model_id}")
    return model


def list_models(session: Session) -> list[HealthModel]:
    return list(session.exec(select(HealthModel).order_by(col(HealthModel.id))).scalars())  # type: ignore[call-overload]


def versions(session: Session, model_id: int) -> list[HealthModelVersion]:
    return list(
        session.execute(
            select(HealthModelVersion)
            .where(HealthModelVersion.model_id == model_id)  # type: ignore[arg-type]
            .order_by(col(HealthModelVersion.version))
        ).scalars()
    )


def published_version(session: Session, model_id: int) -> HealthModelVersion | None:
    return session.execute(
        select(HealthModelVersion).where(
            HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
            HealthModelVersion.state == "published",  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()


def get_version(session: Session, model_id: int, version: int) -> HealthModelVersion:
    found = session.execute(
        select(HealthModelVersion).where(
            HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
            HealthModelVersion.version == version,  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"health model {model_id} has no version {version}")
    return found


def default_model(session: Session) -> HealthModel | None:
    """The model scores are shown with unless another is asked for."""
    return (
        session.execute(select(HealthModel).order_by(col(HealthModel.is_default).desc(), col(HealthModel.id)))
        .scalars()
        .first()
    )


def create_model(
    session: Session,
    *,
    name: str,
    definition: dict[str, Any],
    now: dt.datetime,
    description: str | None = None,
    preset: str | None = None,
    publish: bool = False,
) -> tuple[HealthModel, HealthModelVersion]:
    """A new model with version 1 (a draft, or published at once)."""
    parse_definition(definition)
    name = name.strip()
    if not name:
        raise InvalidInput.field("name", "must not be empty")
    if session.execute(select(HealthModel).where(HealthModel.name == name)).first():  # type: ignore[arg-type]
        raise Conflict(f"a health model named {name!r} already exists")
    is_first = session.execute(select(func.count()).select_from(HealthModel)).scalar() == 0
    model = HealthModel(
        name=name, description=description, preset=preset, is_default=is_first, created_at=now, updated_at=now
    )
    session.add(model)
    session.flush()
    assert model.id is not None
    version = HealthModelVersion(model_id=model.id, version=1, definition=definition, created_at=now)
    session.add(version)
    session.flush()
    if publish:
        publish_version(session, model_id=model.id, version=1, now=now)
    return model, version


def save_draft(
    session: Session, *, model_id: int, definition: dict[str, Any], now: dt.datetime
) -> HealthModelVersion:
    """Put ``definition`` in the model's draft version (creating the next version if needed)."""
    parse_definition(definition)
    model = get_model(session, model_id)
    existing = versions(session, model_id)
    draft = next((v for v in existing if v.state == "draft"), None)
    if draft is None:
        draft = HealthModelVersion(
            model_id=model_id,
            version=max((v.version for v in existing), default=0) + 1,
            definition=definition,
            created_at=now,
        )
    draft.definition = definition
    session.add(draft)
    model.updated_at = now
    session.add(model)
    session.flush()
    return draft


def publish_version(session: Session, *, model_id: int, version: int, now: dt.datetime) -> HealthModelVersion:
    """Publish a draft version; the previously published one is retired. Published is frozen."""
    target = get_version(session, model_id, version)
    if target.state != "draft":
        raise Conflict(f"version {version} is {target.state}; only a draft can be published")
    parse_definition(target.definition)
    session.execute(
        update(HealthModelVersion)
        .where(
            HealthModelVersion.model_id == model_id,  # type: ignore[arg-type]
            HealthModelVersion.state == "published",  # type: ignore[arg-type]
        )
        .values(state="retired")
    )
    target.state = "published"
    target.published_at = now
    session.add(target)
    session.flush()
    return target


def set_default(session: Session, *, model_id: int) -> HealthModel:
    model = get_model(session, model_id)
    session.execute(update(HealthModel).values(is_default=False))
    model.is_default = True
    session.add(model)
    session.flush()
    return model


def adopt_preset(
    session: Session, *, preset: str, now: dt.datetime, name: str | None = None
) -> tuple[HealthModel, HealthModelVersion]:
    """Create and publish a shipped preset in one step."""
    if preset not in presets.PRESETS:
        raise InvalidInput.field("preset", f"must be one of {', '.join(presets.PRESETS)}")
    keys = features_svc.catalog(session).key_features
    try:
        definition = presets.preset(preset, key_feature_keys=keys)
    except ValueError as exc:
        raise InvalidInput.field("preset", str(exc)) from None
    titles = {
        "abc": "ABC health",
        "adoption": "Adoption score (0–4)",
        "key_features": "Key features",
        "minimal": "Minimal",
    }
    model, _ = create_model(
        session,
        name=name or titles[preset],
        definition=definition,
        now=now,
        preset=preset,
        publish=True,
    )
    version = published_version(session, model.id or 0)
    assert version is not None
    return model, version


def create_or_adopt(
    session: Session,
    *,
    preset: str | None,
    name: str | None,
    definition: dict[str, Any] | None,
    description: str | None,
    publish: bool,
    now: dt.datetime,
) -> HealthModel:
    """Adopt a preset (published at once), or create a model from a definition (an import)."""
    if preset:
        return adopt_preset(session, preset=preset, now=now, name=name)[0]
    if definition is None or not name:
        raise InvalidInput([FieldError("preset", "give a preset, or a name and a definition")])
    return create_model(
        session,
        name=name,
        definition=definition,
        now=now,
        description=description,
        publish=publish,
    )[0]


def delete_model(session: Session, *, model_id: int) -> None:
    session.delete(get_model(session, model_id))
    session.flush()
