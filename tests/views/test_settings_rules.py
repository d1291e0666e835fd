"""Settings for the weekly list: weights with a preview before saving, industry tiers, playbooks."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from tests.builders import AS_OF
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import Book


def test_weights_preview_changes_nothing_then_save_adds_a_version(admin: TestClient, book: Book) -> None:
    page = admin.get("/settings/priorities", headers=HTML)
    assert page.status_code == 200, page.text
    assert "version 0" in page.text
    token = csrf(admin, "/settings/priorities")

    preview = admin.post(
        "/settings/priorities/preview",
        headers=HX,
        data={"csrf_token": token, "health_deficit": "0", "per_meeting_month": "0"},
    )
    assert preview.status_code == 200, preview.text
    assert "<html" not in preview.text and "with these weights" in preview.text
    assert preview.context["preview"]["rows"]  # type: ignore[attr-defined]
    assert all(r.after_total <= (r.before_total or 0) for r in preview.context["preview"]["rows"])  # type: ignore[attr-defined]
    assert "version 0" in admin.get("/settings/priorities", headers=HTML).text  # nothing saved

    bad = admin.post("/settings/priorities", headers=HTML, data={"csrf_token": token, "top_n": "0"})
    assert bad.status_code == 422 and "top_n" in bad.text

    saved = admin.post(
        "/settings/priorities",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "top_n": "3", "note": "fewer rows", "expected_version": "0"},
    )
    assert saved.status_code == 303
    assert "version 1" in admin.get("/settings/priorities?saved=1", headers=HTML).text
    stale = admin.post(
        "/settings/priorities",
        headers=HTML,
        data={"csrf_token": token, "top_n": "4", "expected_version": "0"},
    )
    assert stale.status_code == 409


def test_only_admins_reach_rule_settings(csm: TestClient, book: Book) -> None:
    for path in ("/settings/priorities", "/settings/industries", "/settings/playbooks"):
        assert csm.get(path, headers=HTML).status_code == 403


def test_industry_override_needs_a_reason(admin: TestClient, book: Book) -> None:
    page = admin.get("/settings/industries", headers=HTML)
    assert page.status_code == 200, page.text
    token = csrf(admin, "/settings/industries")

    bad = admin.post(
        "/settings/industries/override",
        headers=HTML,
        data={"csrf_token": token, "industry": "retail", "tier": "1"},
    )
    assert bad.status_code == 422 and "Say why" in bad.text
    ok = admin.post(
        "/settings/industries/override",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "industry": "retail", "tier": "1", "reason": "strategic"},
    )
    assert ok.status_code == 303
    retail = next(
        t
        for t in admin.get("/settings/industries", headers=HTML).context["industries"]  # type: ignore[attr-defined]
        if t.industry == "retail"
    )
    assert retail.tier == 1 and retail.is_target


def test_playbook_rules_are_validated_before_publishing(
    admin: TestClient, book: Book, engine: object
) -> None:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from app.lifecycle import playbooks

    assert isinstance(engine, Engine)
    with Session(engine) as session:
        view = playbooks.ensure_default_playbook(session, now=AS_OF)
        session.commit()
        playbook_id, version = view.playbook.id, view.version.version
    page = admin.get("/settings/playbooks", headers=HTML)
    assert page.status_code == 200 and "renewal_review" in page.text
    token = csrf(admin, "/settings/playbooks")

    bad_rules = json.dumps([{"key": "x", "action": "dance"}])
    bad = admin.post(
        f"/settings/playbooks/{playbook_id}", headers=HTML, data={"csrf_token": token, "rules": bad_rules}
    )
    assert bad.status_code == 422 and re.search(r"action", bad.text)

    good_rules = json.dumps(
        [{"key": "renewals", "action": "renewal_review", "when": {"signals_any": ["renewal_window"]}}]
    )
    ok = admin.post(
        f"/settings/playbooks/{playbook_id}",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "rules": good_rules, "note": "renewals only"},
    )
    assert ok.status_code == 303
    assert f"v{version + 1}" in admin.get("/settings/playbooks", headers=HTML).text
