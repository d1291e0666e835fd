"""A stored version's definition is parsed once, and again only when its definition changes."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from app.errors import InvalidInput
from app.health import models as health_models
from app.models import HealthModelVersion
from app.scoring import presets

AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _version(definition: dict[str, object], id: int = 901) -> HealthModelVersion:
    return HealthModelVersion(id=id, model_id=1, version=1, definition=definition, created_at=AT)


def test_a_version_is_parsed_once_and_equals_a_fresh_parse() -> None:
    version = _version(presets.preset("abc"))

    first = health_models.version_spec(version)

    assert health_models.version_spec(version) is first
    assert first == health_models.parse_definition(version.definition)


def test_a_changed_definition_is_parsed_again() -> None:
    version = _version(presets.preset("abc"), id=902)
    before = health_models.version_spec(version)

    version.definition = {**version.definition, "band_good": 75.0}

    after = health_models.version_spec(version)
    assert after is not before and after.band_good == 75.0


def test_a_definition_that_does_not_parse_still_fails_every_time() -> None:
    version = _version({**presets.preset("abc"), "band_good": math.nan, "groups": []}, id=903)

    for _ in range(2):
        with pytest.raises(InvalidInput):
            health_models.version_spec(version)
