"""Settings → health models edits the ordered rules that give accounts their primary model; the
portfolio and the account page then show each account's own model's score."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.health import assignments, snapshots
from app.health import models as health_models
from tests.builders import AS_OF
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import TZ, Book


def _adoption(engine: Engine) -> int:
    """The Adoption model, published and scored for today beside ABC."""
    with Session(engine) as session:
        model, _ = health_models.adopt_preset(session, preset="adoption", now=AS_OF)
        snapshots.run_scoring(session, as_of=AS_OF.astimezone(TZ).date(), tz=TZ, now=AS_OF)
        session.commit()
        return model.id or 0


def _rules(engine: Engine) -> list[tuple[int, str, list[str]]]:
    with Session(engine) as session:
        return [(r.model_id, r.rule, r.values) for r in assignments.load(session).rules]


def test_the_settings_page_edits_the_rules(admin: TestClient, engine: Engine, book: Book) -> None:
    adoption = _adoption(engine)
    page = admin.get("/settings/health", headers=HTML)
    assert page.status_code == 200 and "Models per segment" in page.text
    token = csrf(admin, "/settings/health")
    form = {
        "csrf_token": token,
        "rows": "3",
        "r0.order": "1",
        "r0.model": str(adoption),
        "r0.rule": "segment",
        "r0.values": "enterprise",
        "r1.order": "2",
        "r1.model": str(adoption),
        "r1.rule": "arr_below",
        "r1.amount": "lots",
        "r2.order": "3",
        "r2.model": "",
        "r2.rule": "segment",
        "r2.values": "",
    }
    refused = admin.post("/settings/health/assignments", headers=HX, data=form)
    assert refused.status_code == 422
    assert "Rule 2 (amount)" in refused.text and 'value="lots"' in refused.text
    assert _rules(engine) == []

    form["r1.amount"] = "1000000"
    saved = admin.post("/settings/health/assignments", headers=HX, data=form)
    assert saved.status_code in (200, 204, 303), saved.text
    assert _rules(engine) == [(adoption, "segment", ["enterprise"]), (adoption, "arr_below", [])]
    shown = admin.get("/settings/health", headers=HTML).text
    assert 'value="enterprise"' in shown and 'value="1000000.00"' in shown

    # The enterprise accounts (Acme, Hooli) now show the Adoption model's score on their pages.
    portfolio = admin.get("/?owner=all", headers=HTML).text
    assert "Adoption score (0–4)" in portfolio
    account = admin.get("/accounts/acme", headers=HTML).text
    assert "Adoption score (0–4)" in account

    form = {"csrf_token": token, "rows": "1", "r0.order": "1", "r0.model": "", "r0.rule": "segment"}
    admin.post("/settings/health/assignments", headers=HX, data=form)
    assert _rules(engine) == []
