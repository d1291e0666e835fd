"""Rule settings: the weekly list's weights with a preview before saving, industry tiers,
playbooks, and the stage and signal rules saved as versions."""

from __future__ import annotations

import json
import re

import pytest
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


@pytest.mark.parametrize(
    ("kind", "field", "value", "bad"),
    [
        ("stages", "star_user_active_days", "10", {"motivated_at": "9"}),
        ("signals", "no_meeting_days", "60", {"renewal_min_days": "200", "renewal_max_days": "100"}),
    ],
)
def test_rule_settings_save_a_version(
    admin: TestClient, book: Book, kind: str, field: str, value: str, bad: dict[str, str]
) -> None:
    page = admin.get(f"/settings/{kind}", headers=HTML)
    assert page.status_code == 200 and "version 0" in page.text
    token = csrf(admin, f"/settings/{kind}")

    refused = admin.post(f"/settings/{kind}", headers=HX, data={"csrf_token": token, **bad})
    assert refused.status_code == 422 and 'id="err-config"' in refused.text

    saved = admin.post(
        f"/settings/{kind}",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, field: value, "note": "tuning", "expected_version": "0"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/settings/{kind}?saved=1"
    after = admin.get(f"/settings/{kind}?saved=1", headers=HTML)
    assert after.context["current"].version == 1  # type: ignore[attr-defined]
    assert after.context["form"][field] == int(value)  # type: ignore[attr-defined]

    stale = admin.post(
        f"/settings/{kind}", headers=HTML, data={"csrf_token": token, field: value, "expected_version": "0"}
    )
    assert stale.status_code == 409


def test_rule_settings_are_for_admins(csm: TestClient) -> None:
    assert csm.get("/settings/stages", headers=HTML).status_code == 403


@pytest.mark.parametrize("kind", ["stages", "signals", "priorities"])
def test_rule_settings_name_a_bad_expected_version(admin: TestClient, book: Book, kind: str) -> None:
    token = csrf(admin, f"/settings/{kind}")
    answer = admin.post(f"/settings/{kind}", headers=HX, data={"csrf_token": token, "expected_version": "x"})
    assert answer.status_code == 422 and "expected_version must be a whole number" in answer.text
    assert "version 0" in admin.get(f"/settings/{kind}", headers=HTML).text  # nothing saved
