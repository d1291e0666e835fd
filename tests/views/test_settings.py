"""Settings pages (admins): users, API keys and sources with their secrets shown once, features,
health models."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.auth import api_keys
from app.auth.users import get_user_by_email
from app.ingest import dead_letters, pending, sources
from tests.conftest import AS_OF
from tests.views.conftest import HTML, HX, csrf, sign_in
from tests.views.data import VIEWER


def test_an_admin_adds_a_user_who_can_then_sign_in(admin: TestClient, client: TestClient) -> None:
    token = csrf(admin, "/settings/users")
    response = admin.post("/settings/users", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "email": "New@Example.com", "name": "New CSM", "role": "csm",
        "password": "a long enough password", "locale": "en",
    })

    assert response.status_code == 303
    fresh = TestClient(client.app, raise_server_exceptions=False)
    sign_in(fresh, "new@example.com", "a long enough password")
    assert fresh.get("/", headers=HTML).context["user"].name == "New CSM"  # type: ignore[attr-defined]


def test_a_bad_new_user_re_renders_the_form_naming_the_fields(admin: TestClient) -> None:
    response = admin.post("/settings/users", headers={**HX, "X-CSRF-Token": csrf(admin, "/settings/users")},
                          data={"email": "not-an-email", "role": "boss", "password": "short"})

    assert response.status_code == 422
    assert "<html" not in response.text
    assert set(response.context["errors"]) == {"email", "role", "password"}  # type: ignore[attr-defined]
    assert response.context["form"]["email"] == "not-an-email"  # type: ignore[attr-defined]


def test_an_admin_changes_a_role_but_not_their_own(admin: TestClient, engine: Engine) -> None:
    with Session(engine) as session:
        viewer = get_user_by_email(session, VIEWER)
        me = get_user_by_email(session, "admin@example.com")
        assert viewer is not None and me is not None
    token = csrf(admin, "/settings/users")

    changed = admin.post(f"/settings/users/{viewer.id}", headers=HTML, follow_redirects=False,
                         data={"csrf_token": token, "role": "csm"})
    own = admin.post(f"/settings/users/{me.id}", headers=HTML,
                     data={"csrf_token": token, "active": "false"})

    assert changed.status_code == 303 and own.status_code == 422
    with Session(engine) as session:
        assert get_user_by_email(session, VIEWER).role == "csm"  # type: ignore[union-attr]
        assert get_user_by_email(session, "admin@example.com").is_active  # type: ignore[union-attr]


def test_a_new_api_key_is_shown_once_and_works(admin: TestClient, client: TestClient, engine: Engine) -> None:
    response = admin.post("/settings/keys", headers=HTML, data={
        "csrf_token": csrf(admin, "/settings/keys"), "name": "crm", "scope": "read"})

    secret = response.context["secret"]  # type: ignore[attr-defined]
    assert secret.startswith("bsk_") and secret in response.text
    assert client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    again = admin.get("/settings/keys", headers=HTML)
    assert secret not in again.text and "crm" in again.text

    with Session(engine) as session:
        key = api_keys.list_api_keys(session)[0]
    admin.post(f"/settings/keys/{key.id}/revoke", headers=HTML,
               data={"csrf_token": csrf(admin, "/settings/keys")})
    assert client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_new_source_shows_its_write_key_once(admin: TestClient, engine: Engine) -> None:
    response = admin.post("/settings/sources", headers=HTML, data={
        "csrf_token": csrf(admin, "/settings/sources"), "name": "web-app"})

    secret = response.context["secret"]  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert sources.authenticate_write_key(session, secret).name == "web-app"
    duplicate = admin.post("/settings/sources", headers=HTML, data={
        "csrf_token": csrf(admin, "/settings/sources"), "name": "web-app"})
    assert duplicate.status_code == 422 and "already exists" in duplicate.context["errors"]["name"]  # type: ignore[attr-defined]


def test_the_feature_catalog_and_health_models(admin: TestClient) -> None:
    added = admin.post("/settings/features", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf(admin, "/settings/features"), "key": "reports", "name": "Reports",
        "patterns": "report.*\nexport, print", "is_key": "true"})

    assert added.status_code == 303
    page = admin.get("/settings/features", headers=HTML)
    feature = page.context["features"][0]  # type: ignore[attr-defined]
    assert (feature.key, feature.is_key) == ("reports", True)
    assert feature.patterns == ["report.*", "export", "print"]

    models = admin.get("/settings/health", headers=HTML)
    assert models.status_code == 200
    assert "ABC health" in models.text and "Champion in place" in models.text


def test_unknown_settings_section_is_404(admin: TestClient) -> None:
    assert admin.get("/settings/nothing", headers=HTML).status_code == 404


def test_messages_set_aside_are_listed_per_source_and_replayed(admin: TestClient, engine: Engine) -> None:
    with Session(engine) as session:
        source, _ = sources.create_source(session, name="web-app", now=AS_OF)
        assert source.id is not None
        source_id = source.id
        dead_letters.set_aside(
            session, source_id=source_id, origin=dead_letters.Origin(AS_OF, None, None),
            message_id="g1", message_json=b'{"type":"group","groupId":"<acme>"}',
            exc=ValueError("x"), now=AS_OF,
        )
        session.commit()

    page = admin.get("/settings/sources", headers=HTML)

    assert page.status_code == 200
    assert page.context["set_aside"] == {source_id: 1}  # type: ignore[attr-defined]
    assert "Storing it failed (ValueError)" in page.text
    assert "&lt;acme&gt;" in page.text and "<acme>" not in page.text
    replayed = admin.post(f"/settings/sources/{source_id}/dead-letters/replay", headers=HTML,
                          data={"csrf_token": csrf(admin, "/settings/sources")})
    assert replayed.status_code == 200  # followed the redirect back to the page
    assert replayed.context["set_aside"] == {}  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert pending.backlog(session).messages == 1


def test_replaying_needs_the_csrf_token(admin: TestClient, engine: Engine) -> None:
    with Session(engine) as session:
        source, _ = sources.create_source(session, name="web-app", now=AS_OF)
        source_id = source.id
        session.commit()

    response = admin.post(f"/settings/sources/{source_id}/dead-letters/replay", headers=HTML, data={})

    assert response.status_code == 403
