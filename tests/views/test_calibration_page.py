"""Settings → health model → *Suggest from history*: the proposal loads into the editor as a
draft with its out-of-time validation; only an admin may ask, and only with the form's token."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.health import models as health_models
from tests.churn_book import load_churn_book
from tests.conftest import DatabaseFactory
from tests.views.conftest import HTML, HX, csrf, sign_in
from tests.views.data import ADMIN

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def admin(app: FastAPI, client: TestClient, databases: DatabaseFactory, engine: Engine) -> TestClient:
    databases.load(engine, load_churn_book)
    return sign_in(TestClient(app, raise_server_exceptions=False), ADMIN)


def _abc(engine: Engine) -> int:
    with Session(engine) as session:
        return next(m.id for m in health_models.list_models(session) if m.preset == "abc") or 0


def test_suggest_from_history_loads_a_validated_draft(admin: TestClient, engine: Engine) -> None:
    abc = _abc(engine)
    editor = f"/settings/health/{abc}/edit"
    page = admin.get(editor, headers=HTML)
    assert "Suggest from history" in page.text and 'id="calibration"' not in page.text

    assert (
        admin.post(f"/settings/health/{abc}/calibrate", headers=HX, data={"horizon_days": "90"}).status_code
        == 403
    )
    answer = admin.post(
        f"/settings/health/{abc}/calibrate",
        headers=HX,
        data={"csrf_token": csrf(admin, editor), "horizon_days": "90"},
    )
    assert answer.status_code == 200, answer.text
    target = answer.headers["HX-Redirect"]
    assert re.fullmatch(rf"/settings/health/{abc}/edit\?calibration=\d+", target)

    shown = admin.get(target, headers=HTML).text
    assert 'id="calibration"' in shown
    assert "Churn within 90 days of each reference date, every 14 days" in shown
    assert "which the fit never saw" in shown
    for table in ("calibration-summary", "calibration-bands", "calibration-horizons", "calibration-measures"):
        assert f'id="{table}"' in shown
    assert shown.count('<rect class="bar-') >= 6  # AUC before and after at the horizons
    with Session(engine) as session:
        versions = health_models.versions(session, abc)
    draft = next(v for v in versions if v.state == "draft")
    assert f"The proposal is draft version {draft.version}" in shown
    # The editor holds the draft: the next visit without a calibration id shows it again.
    assert 'id="calibration"' in admin.get(editor, headers=HTML).text


def test_suggest_from_history_is_for_admins(
    app: FastAPI, client: TestClient, databases: DatabaseFactory, engine: Engine
) -> None:
    databases.load(engine, load_churn_book)
    abc = _abc(engine)
    anonymous = client.post(
        f"/settings/health/{abc}/calibrate", headers=HTML, data={}, follow_redirects=False
    )
    assert anonymous.status_code in (303, 401, 403)
    with Session(engine) as session:
        assert all(v.state != "draft" for v in health_models.versions(session, abc))


def test_a_book_without_history_is_told_so_in_its_language(
    app: FastAPI, client: TestClient, engine: Engine
) -> None:
    from app.auth import users as users_svc
    from tests.conftest import AS_OF
    from tests.views.data import PASSWORD

    with Session(engine) as session:
        health_models.adopt_preset(session, preset="abc", now=AS_OF)
        users_svc.create_user(
            session, email=ADMIN, name="Admin", role="admin", password=PASSWORD, locale="en", now=AS_OF
        )
        session.commit()
    admin = sign_in(TestClient(app, raise_server_exceptions=False), ADMIN)
    abc = _abc(engine)
    editor = f"/settings/health/{abc}/edit"
    admin.post("/preferences", headers=HX, data={"csrf_token": csrf(admin, editor), "language": "ja"})
    answer = admin.post(
        f"/settings/health/{abc}/calibrate", headers=HX, data={"csrf_token": csrf(admin, editor)}
    )
    assert answer.status_code == 422
    assert "調整に必要な履歴が足りません" in answer.text
