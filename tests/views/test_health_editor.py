"""The health model editor: numbers laid over a base definition, a preview of the bands, a JSON
box, and publishing a new version (admins only)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.models import HealthModelVersion
from app.views.settings_health import apply_form
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import Book

BASE = {
    "scale_max": 100,
    "band_good": 70,
    "band_normal": 40,
    "groups": [
        {
            "key": "a",
            "name": "A",
            "weight": 1,
            "measures": [
                {
                    "key": "x",
                    "name": "X",
                    "weight": 1,
                    "grading": {"kind": "thresholds", "good": 5, "normal": 2},
                },
                {"key": "y", "name": "Y", "weight": 2, "grading": {"kind": "breakpoints", "cuts": [1, 2, 3]}},
            ],
        },
        {
            "key": "b",
            "name": "B",
            "weight": 1,
            "measures": [{"key": "z", "name": "Z", "grading": {"kind": "linear", "low": 0, "high": 10}}],
        },
    ],
}


def test_apply_form_lays_numbers_over_the_base() -> None:
    definition, errors = apply_form(
        BASE,
        {
            "band_good": "75",
            "band_normal": "",
            "g.a.weight": "2,5",
            "m.a.x.good": "6",
            "m.a.y.cuts": "1; 2.5; 4",
            "m.b.z.remove": "on",
            "m.a.x.window_days": "14",
            "m.q.q.weight": "3",  # a measure the base lacks: ignored
        },
    )
    assert errors == {}
    assert definition["band_good"] == 75 and definition["band_normal"] == 40
    group = definition["groups"][0]
    assert group["weight"] == 2.5 and [g["key"] for g in definition["groups"]] == ["a"]
    assert group["measures"][0]["grading"] == {"kind": "thresholds", "good": 6, "normal": 2}
    assert group["measures"][0]["window_days"] == 14
    assert group["measures"][1]["grading"]["cuts"] == [1, 2.5, 4]
    assert BASE["groups"][0]["weight"] == 1  # type: ignore[index]  # the base is not changed

    _, errors = apply_form(
        BASE, {"m.a.x.weight": "heavy", "m.a.x.window_days": "7.5", "m.a.y.cuts": "1; two"}
    )
    assert errors == {"m.a.x.weight": "number", "m.a.x.window_days": "number", "m.a.y.cuts": "number"}


def _model_id(engine: Engine) -> int:
    with Session(engine) as session:
        version = session.exec(select(HealthModelVersion)).first()
        assert version is not None
        return version.model_id


def test_the_editor_previews_bands_then_publishes_a_version(
    admin: TestClient, book: Book, engine: Engine
) -> None:
    model_id = _model_id(engine)
    editor = admin.get(f"/settings/health/{model_id}/edit", headers=HTML)
    assert editor.status_code == 200, editor.text
    base = editor.context["base"]  # type: ignore[attr-defined]
    token = csrf(admin, f"/settings/health/{model_id}/edit")

    # Everyone is "good" when good starts at 0.
    preview = admin.post(
        f"/settings/health/{model_id}/preview",
        headers=HX,
        data={"csrf_token": token, "base": base, "band_good": "0", "band_normal": "0"},
    )
    assert preview.status_code == 200, preview.text
    assert "<html" not in preview.text and 'id="preview"' in preview.text
    result = preview.context["preview"]  # type: ignore[attr-defined]
    assert result.accounts == 5 and result.after == {"good": 5}
    assert sum(result.before.values()) == 5

    bad = admin.post(
        f"/settings/health/{model_id}/preview",
        headers=HX,
        data={"csrf_token": token, "base": base, "band_good": "lots"},
    )
    assert bad.status_code == 422 and "Enter numbers" in bad.text

    invalid = admin.post(
        f"/settings/health/{model_id}/publish",
        headers=HTML,
        data={"csrf_token": token, "base": base, "band_good": "20", "band_normal": "60"},
    )
    assert invalid.status_code == 422 and "band" in invalid.text

    published = admin.post(
        f"/settings/health/{model_id}/publish",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "base": base, "band_good": "65"},
    )
    assert published.status_code == 303
    assert published.headers["location"] == "/settings/health?published=2"
    with Session(engine) as session:
        versions = session.exec(select(HealthModelVersion).order_by(HealthModelVersion.version)).all()  # type: ignore[arg-type]
        assert [(v.version, v.state) for v in versions] == [(1, "retired"), (2, "published")]
        assert versions[1].definition["band_good"] == 65
    assert "Published version 2" in admin.get("/settings/health?published=2", headers=HTML).text


def test_the_json_box_loads_a_definition_into_the_editor(
    admin: TestClient, book: Book, engine: Engine
) -> None:
    model_id = _model_id(engine)
    token = csrf(admin, f"/settings/health/{model_id}/edit")
    import json

    definition = {
        **BASE,
        "groups": [
            {
                **BASE["groups"][1],
                "measures": [  # type: ignore[dict-item]
                    {
                        "key": "z",
                        "name": "Z",
                        "source": {"type": "attribute", "attribute": "has_champion"},
                        "grading": {"kind": "linear", "low": 0, "high": 1},
                    }
                ],
            }
        ],
    }
    loaded = admin.post(
        f"/settings/health/{model_id}/load",
        headers=HX,
        data={"csrf_token": token, "document": json.dumps(definition)},
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.context["definition"] == definition  # type: ignore[attr-defined]
    assert 'name="m.b.z.high"' in loaded.text

    broken = admin.post(
        f"/settings/health/{model_id}/load", headers=HX, data={"csrf_token": token, "document": "{not json"}
    )
    assert broken.status_code == 422 and "not a JSON object" in broken.text


def test_the_editor_is_for_admins(csm: TestClient, engine: Engine, book: Book) -> None:
    assert csm.get(f"/settings/health/{_model_id(engine)}/edit", headers=HTML).status_code == 403


@pytest.mark.parametrize("path", ["preview", "publish"])
@pytest.mark.parametrize(
    "base", ['{"groups": 5}', '{"groups": [5]}', '{"groups": [{"key": "a", "measures": [7]}]}']
)
def test_the_editor_refuses_a_malformed_base(
    admin: TestClient, book: Book, engine: Engine, path: str, base: str
) -> None:
    model_id = _model_id(engine)
    token = csrf(admin, f"/settings/health/{model_id}/edit")
    answer = admin.post(
        f"/settings/health/{model_id}/{path}", headers=HX, data={"csrf_token": token, "base": base}
    )
    assert answer.status_code == 422 and "reload the editor" in answer.text
    with Session(engine) as session:
        assert len(session.exec(select(HealthModelVersion)).all()) == 1  # nothing published
