"""Every whole-number path or query parameter of every route is bounded, so that a number past
what a column holds is a 422 naming it rather than a 500 from the database driver.

Fuzzing the running server found two that were not (``GET /api/v1/accounts/{id}/health?model=``
and the dead-letter replay's ``source_id``); this test reads the route table, so a new route with
a plain ``int`` fails here before any fuzzer meets it.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest

from app.openapi import walk_dependants
from tests.api.test_auth import SCHEMA_APP, api_routes


def _is_int(annotation: Any) -> bool:
    return annotation is int or any(_is_int(a) for a in typing.get_args(annotation))


def _has_upper_bound(metadata: Any) -> bool:
    return any(getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None for m in metadata)


def _bounded(annotation: Any, metadata: Any) -> bool:
    """A bound on the parameter itself, or on the int inside ``DbId | None``."""
    if _has_upper_bound(metadata):
        return True
    return any(_has_upper_bound(getattr(a, "__metadata__", ())) for a in typing.get_args(annotation))


def _unbounded(route: Any) -> list[str]:
    found = []
    for dependant in walk_dependants(route.dependant):
        for param in dependant.path_params + dependant.query_params:
            info = param.field_info
            if not _is_int(info.annotation):
                continue
            if not _bounded(info.annotation, info.metadata):
                found.append(param.name)
    return found


def test_every_whole_number_parameter_has_an_upper_bound() -> None:
    unbounded = [
        f"{sorted(route.methods)} {path}: {name}"
        for path, route in api_routes(SCHEMA_APP)
        for name in _unbounded(route)
    ]
    assert unbounded == [], "use app.types.DbId (or Query(le=...)):\n" + "\n".join(unbounded)


def test_an_out_of_range_model_or_source_id_is_a_422(client: Any, auth: Any) -> None:
    admin = auth("admin")
    huge = "38325170172415811584"
    health = client.get(f"/api/v1/accounts/acme/health?model={huge}", headers=admin)
    replay = client.post(f"/api/v1/sources/{huge}/dead-letters/replay", headers=admin, json={"ids": [0]})

    assert health.status_code == 422, health.text
    assert health.json()["errors"][0]["field"] == "model"
    assert replay.status_code == 422, replay.text
    assert replay.json()["errors"][0]["field"] == "source_id"


HUGE = 38325170172415811584


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/sources/1/dead-letters/replay", {"ids": [HUGE]}, "ids"),
        ("POST", "/api/v1/accounts/acme/adoption-reports", {"contact_ids": [HUGE]}, "contact_ids"),
        ("POST", "/api/v1/tasks/1/complete", {"interaction_id": HUGE}, "interaction_id"),
        ("POST", "/api/v1/health-models/1/backtest", {"version": HUGE}, "version"),
        ("PUT", "/api/v1/rules/stages", {"expected_version": HUGE, "rules": {}}, "expected_version"),
    ],
)
def test_an_id_past_its_column_in_a_body_is_a_422_naming_it(
    client: Any, auth: Any, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.request(method, path, headers=auth("admin"), json=body)

    assert response.status_code == 422, response.text
    assert any(field in error["field"] for error in response.json()["errors"]), response.text
