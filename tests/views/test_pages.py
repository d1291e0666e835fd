"""The pages as rendered: templates and context, fragments for htmx, forms with and without it,
CSRF, roles, languages and the stale-edit conflict."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.interactions import service as interactions_svc
from app.models import PlanGoal
from app.plans import goals as plan_goals
from app.views.page import CSRF_COOKIE
from tests.views.conftest import HTML, HX, csrf, sign_in
from tests.views.data import CSM, OTHER_CSM, PASSWORD, Book


def _goal(engine: Engine, goal_id: int) -> PlanGoal:
    with Session(engine) as session:
        goal = session.get(PlanGoal, goal_id)
        assert goal is not None
        return goal


# -- sign-in, sessions, CSRF -------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client: TestClient, book: Book) -> None:
    response = client.get("/accounts/acme", headers=HTML, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/accounts/acme"


def test_htmx_requests_without_a_session_are_sent_to_sign_in_with_hx_redirect(
    client: TestClient, book: Book
) -> None:
    response = client.get("/", headers=HX)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login?next=/"


def test_api_errors_stay_problem_json(client: TestClient) -> None:
    response = client.get("/api/v1/accounts", headers=HTML)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_sign_in_sets_a_session_cookie_and_the_next_page(client: TestClient, book: Book) -> None:
    token = csrf(client)
    response = client.post("/login", headers=HTML, follow_redirects=False, data={
        "email": CSM.upper(), "password": PASSWORD, "csrf_token": token,
        "next": "/accounts/acme",
    })

    assert response.status_code == 303
    assert response.headers["location"] == "/accounts/acme"
    cookie = response.headers["set-cookie"]
    assert "bansou_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # BASE_URL is http here
    assert client.get("/accounts/acme", headers=HTML).status_code == 200


def test_sign_in_never_redirects_off_site(client: TestClient, book: Book) -> None:
    token = csrf(client)
    response = client.post("/login", headers=HTML, follow_redirects=False, data={
        "email": CSM, "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x",
    })

    assert response.headers["location"] == "/"


def test_a_wrong_password_re_renders_the_form_with_401(client: TestClient, book: Book) -> None:
    response = client.post("/login", headers=HTML, data={
        "email": CSM, "password": "wrong password", "csrf_token": csrf(client),
    })

    assert response.status_code == 401
    assert response.template.name == "auth/login.html"  # type: ignore[attr-defined]
    assert response.context["error"] == "The email or password is not right."  # type: ignore[attr-defined]
    assert "bansou_session" not in response.headers.get("set-cookie", "")


def test_sign_in_is_throttled_per_email(client: TestClient, book: Book) -> None:
    token = csrf(client)
    for _ in range(5):
        client.post("/login", headers=HTML, data={"email": CSM, "password": "nope-nope-nope",
                                                  "csrf_token": token})

    response = client.post("/login", headers=HTML, data={
        "email": CSM, "password": PASSWORD, "csrf_token": token,
    })

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in response.text


def test_a_post_without_the_csrf_token_is_refused(csm: TestClient) -> None:
    response = csm.post("/accounts/acme/meetings", headers=HTML, data={
        "occurred_at": "2026-11-23T10:00", "kind": "meeting", "notes": "forged",
    })

    assert response.status_code == 403
    assert response.template.name == "errors/error.html"  # type: ignore[attr-defined]
    assert "<h1>Not permitted</h1>" in response.text


def test_a_token_from_another_browser_is_refused(
    csm: TestClient, as_user: Callable[[str], TestClient]
) -> None:
    other = as_user(OTHER_CSM)
    stolen = csrf(other, "/accounts/acme")

    response = csm.post("/accounts/acme/meetings", headers={**HTML, "X-CSRF-Token": stolen},
                        data={"occurred_at": "2026-11-23T10:00", "kind": "meeting"})

    assert response.status_code == 403


def test_sign_out_ends_the_session(csm: TestClient) -> None:
    token = csrf(csm, "/")
    response = csm.post("/logout", headers=HTML, data={"csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303
    assert csm.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_an_idle_session_expires(csm: TestClient) -> None:
    app = csm.app
    app.state.clock = lambda: dt.datetime(2026, 11, 23, 18, 0, 1, tzinfo=dt.UTC)  # type: ignore[attr-defined]

    response = csm.get("/", headers=HTML, follow_redirects=False)

    assert response.status_code == 303


# -- security headers ----------------------------------------------------------------------------


def test_pages_carry_a_strict_csp_and_vary_on_hx_request(csm: TestClient) -> None:
    response = csm.get("/", headers=HTML)

    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "HX-Request" in response.headers["vary"]
    assert "<script>" not in response.text and " style=" not in response.text
    body = re.search(r"<body hx-headers='([^']+)'", response.text)
    assert body is not None and "X-CSRF-Token" in body.group(1)
    assert CSRF_COOKIE in csm.cookies


# -- portfolio -----------------------------------------------------------------------------------


def test_a_csm_starts_on_their_own_accounts(csm: TestClient) -> None:
    response = csm.get("/", headers=HTML)

    assert response.template.name == "portfolio/index.html"  # type: ignore[attr-defined]
    names = [r["row"].account.external_id for r in response.context["rows"]]  # type: ignore[attr-defined]
    assert names == ["acme", "globex"]
    assert response.context["params"]["owner"] == "me"  # type: ignore[attr-defined]


def test_filters_and_sort_apply(csm: TestClient) -> None:
    response = csm.get("/", params={"owner": "all", "sort": "-arr", "segment": "enterprise"},
                       headers=HTML)

    rows = response.context["rows"]  # type: ignore[attr-defined]
    assert [r["row"].account.external_id for r in rows] == ["acme", "hooli"]
    unowned = csm.get("/", params={"owner": "none"}, headers=HTML).context["rows"]  # type: ignore[attr-defined]
    assert [r["row"].account.external_id for r in unowned] == ["umbrella"]
    found = csm.get("/", params={"owner": "all", "q": "INITECH"}, headers=HTML).context["rows"]  # type: ignore[attr-defined]
    assert [r["row"].account.external_id for r in found] == ["initech"]


def test_rows_carry_score_band_trend_and_next_meeting(csm: TestClient) -> None:
    rows = {r["row"].account.external_id: r for r in
            csm.get("/", headers=HTML).context["rows"]}  # type: ignore[attr-defined]

    acme, globex = rows["acme"], rows["globex"]
    assert acme["row"].band in ("good", "normal", "bad") and acme["row"].score is not None
    assert len(acme["row"].trend) >= 8 and acme["spark"].points
    assert globex["row"].next_meeting == dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
    assert acme["row"].next_meeting is None


def test_an_htmx_filter_returns_the_results_fragment_and_the_canonical_url(csm: TestClient) -> None:
    response = csm.get("/", params={"owner": "all", "band": "", "q": "", "sort": "name",
                                    "view": "table"}, headers=HX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="results"')
    assert response.headers["HX-Push-Url"] == "/?owner=all"
    assert response.headers["vary"] == "HX-Request"


def test_a_history_restore_gets_the_whole_page(csm: TestClient) -> None:
    response = csm.get("/", headers={**HX, "HX-History-Restore-Request": "true"})

    assert "<html" in response.text


def test_the_heatmap_grades_every_measure(csm: TestClient) -> None:
    response = csm.get("/", params={"owner": "all", "view": "heatmap"}, headers=HTML)

    context = response.context  # type: ignore[attr-defined]
    assert context["mode"] == "heatmap"
    measures = context["data"].measures
    assert len(measures) == 9
    acme = next(h for h in context["heat"] if h["row"].account.external_id == "acme")
    assert len(acme["cells"]) == 9
    assert set(acme["cells"]) <= {"good", "normal", "bad", None}
    assert 'class="cell grade-good"' in response.text
    # The same grades as the account's own explanation of its score.
    health = csm.get("/accounts/acme", headers=HTML).context["health"]  # type: ignore[attr-defined]
    explained = [m["grade"] if m.get("status", "ok") == "ok" else None
                 for g in health.groups for m in g["measures"]]
    assert acme["cells"] == explained


def test_unknown_filter_values_are_ignored(csm: TestClient) -> None:
    response = csm.get("/", params={"band": "purple", "sort": "drop table", "view": "pie"},
                       headers=HTML)

    assert response.status_code == 200
    assert response.context["params"]["sort"] == "name"  # type: ignore[attr-defined]


# -- account page --------------------------------------------------------------------------------


def test_the_account_page_explains_the_score(csm: TestClient) -> None:
    response = csm.get("/accounts/acme", headers=HTML)

    context = response.context  # type: ignore[attr-defined]
    assert response.template.name == "accounts/detail.html"  # type: ignore[attr-defined]
    health = context["health"]
    contributions = sum(m["contribution"] or 0 for g in health.groups for m in g["measures"])
    assert round(contributions, 1) == round(health.score, 1)
    assert context["chart"].points
    assert context["tenure_days"] == 200
    assert [i["row"].type for i in context["timeline"] if i["source"] == "interaction"] == [
        "meeting", "support_ticket", "nps_response", "webinar"]
    assert "<strong>rollout</strong>" in response.text


def test_an_unknown_account_is_a_404_page(csm: TestClient) -> None:
    response = csm.get("/accounts/nope", headers=HTML)

    assert response.status_code == 404
    assert response.template.name == "errors/error.html"  # type: ignore[attr-defined]


def test_the_timeline_filters_and_loads_more(csm: TestClient, engine: Engine) -> None:
    from tests.builders import AS_OF

    adapter_rows = []
    with Session(engine) as session:
        from pydantic import TypeAdapter

        from app.interactions.schemas import InteractionIn

        adapter: TypeAdapter[InteractionIn] = TypeAdapter(InteractionIn)
        for n in range(25):
            adapter_rows.append(interactions_svc.create_interaction(
                session, interaction_in=adapter.validate_python({
                    "account_id": "acme", "type": "email_sent", "author": CSM,
                    "occurred_at": AS_OF - dt.timedelta(days=50 + n), "subject": f"Mail {n}",
                }), now=AS_OF))
        session.commit()

    emails = csm.get("/accounts/acme/timeline", params={"kind": "emails"}, headers=HX)
    assert "<html" not in emails.text
    items = emails.context["timeline"]  # type: ignore[attr-defined]
    assert len(items) == 20 and {i["row"].type for i in items} == {"email_sent"}
    cursor = emails.context["next_cursor"]  # type: ignore[attr-defined]
    assert cursor

    more = csm.get("/accounts/acme/timeline", params={"kind": "emails", "cursor": cursor},
                   headers=HX)
    assert len(more.context["timeline"]) == 5  # type: ignore[attr-defined]
    assert more.context["next_cursor"] is None  # type: ignore[attr-defined]
    assert more.text.lstrip().startswith("<li")


def test_log_meeting_without_javascript_redirects_and_records_it(csm: TestClient) -> None:
    token = csrf(csm, "/accounts/acme")
    page = csm.get("/accounts/acme", headers=HTML)
    contact = page.context["contacts"][0]  # type: ignore[attr-defined]

    response = csm.post("/accounts/acme/meetings", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "occurred_at": "2026-11-23T15:30", "kind": "meeting",
        "attendees": [str(contact.id)], "notes": "# Kickoff\n<script>alert(1)</script>",
        "onboarding_topic": "kickoff", "next_meeting": "2026-12-01T10:00", "key": "k-1",
    })

    assert response.status_code == 303
    assert response.headers["location"] == "/accounts/acme#timeline"
    after = csm.get("/accounts/acme", headers=HTML)
    latest = after.context["timeline"][0]  # type: ignore[attr-defined]
    assert latest["row"].type == "meeting_scheduled"
    meeting = next(i for i in after.context["timeline"] if "row" in i and i["row"].type == "meeting")  # type: ignore[attr-defined]
    assert meeting["row"].occurred_at == dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)  # 15:30 JST
    assert meeting["row"].data["onboarding_topic"] == "kickoff"
    assert [c.id for c in meeting["contacts"]] == [contact.id]
    assert "<h1>Kickoff</h1>" in after.text
    assert "<script>alert(1)</script>" not in after.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in after.text


def test_log_meeting_twice_with_the_same_key_records_it_once(csm: TestClient) -> None:
    token = csrf(csm, "/accounts/acme")
    form = {"csrf_token": token, "occurred_at": "2026-11-23T15:30", "kind": "call",
            "notes": "Quick call", "key": "same-key"}

    for _ in range(2):
        assert csm.post("/accounts/acme/meetings", headers=HTML, data=form,
                        follow_redirects=False).status_code == 303

    calls = [i for i in csm.get("/accounts/acme", headers=HTML).context["timeline"]  # type: ignore[attr-defined]
             if "row" in i and i["row"].type == "call"]
    assert len(calls) == 1


def test_log_meeting_with_htmx_returns_a_fresh_form_and_a_timeline_event(csm: TestClient) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post("/accounts/acme/meetings", headers={**HX, "X-CSRF-Token": token}, data={
        "occurred_at": "2026-11-23T15:30", "kind": "meeting", "notes": "ok", "key": "k-2",
    })

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.headers["HX-Trigger"] == '{"timeline-changed": true}'
    assert response.context["saved"] is True  # type: ignore[attr-defined]
    assert response.context["form"]["notes"] == ""  # type: ignore[attr-defined]


def test_an_invalid_meeting_re_renders_the_form_block_with_422(csm: TestClient) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post("/accounts/acme/meetings", headers={**HX, "X-CSRF-Token": token}, data={
        "occurred_at": "", "kind": "meeting", "notes": "keep me", "next_meeting": "2020-01-01T10:00",
    })

    assert response.status_code == 422
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section class="panel" id="meeting-form"')
    errors = response.context["errors"]  # type: ignore[attr-defined]
    assert set(errors) == {"occurred_at", "next_meeting"}
    assert response.context["form"]["notes"] == "keep me"  # type: ignore[attr-defined]
    assert 'aria-invalid="true"' in response.text


def test_an_invalid_meeting_without_javascript_shows_the_page_with_422(csm: TestClient) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post("/accounts/acme/meetings", headers=HTML, data={
        "csrf_token": token, "occurred_at": "2030-01-01T10:00", "kind": "meeting",
    })

    assert response.status_code == 422
    assert "<html" in response.text
    assert "more than a day ahead" in response.context["errors"]["occurred_at"]  # type: ignore[attr-defined]


# -- roles ---------------------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(viewer: TestClient, book: Book) -> None:
    page = viewer.get("/accounts/acme", headers=HTML)
    assert page.status_code == 200
    assert page.context["can_edit"] is False  # type: ignore[attr-defined]
    assert 'id="meeting-form"' not in page.text and "Save goal" not in page.text
    token = csrf(viewer, "/accounts/acme")

    meeting = viewer.post("/accounts/acme/meetings", headers=HTML, data={
        "csrf_token": token, "occurred_at": "2026-11-23T10:00", "kind": "meeting"})
    goal = viewer.post(f"/accounts/acme/plans/{book.plan_id}/goals/{book.goal_ids[0]}",
                       headers=HTML, data={"csrf_token": token, "version": "1", "status": "achieved"})

    assert meeting.status_code == 403 and goal.status_code == 403


def test_settings_are_for_admins_only(csm: TestClient, admin: TestClient) -> None:
    assert csm.get("/settings/users", headers=HTML).status_code == 403
    page = admin.get("/settings/users", headers=HTML)
    assert page.status_code == 200
    assert CSM in page.text


# -- success plan --------------------------------------------------------------------------------


def test_a_goal_edit_applies_and_returns_the_goal_fragment(
    csm: TestClient, book: Book, engine: Engine
) -> None:
    token = csrf(csm, "/accounts/acme")
    goal_id = book.goal_ids[0]

    response = csm.post(f"/accounts/acme/plans/{book.plan_id}/goals/{goal_id}",
                        headers={**HX, "X-CSRF-Token": token},
                        data={"version": "1", "status": "on_track", "current_value": "150",
                              "notes": "Growing"})

    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<li class="goal" id="goal-{goal_id}"')
    goal = _goal(engine, goal_id)
    assert (goal.status, goal.current_value, goal.description, goal.version) == (
        "on_track", 150.0, "Growing", 2)
    assert response.context["goal"]["progress"] == 0.75  # type: ignore[attr-defined]


def test_a_stale_goal_edit_is_refused_and_names_who_changed_it(
    csm: TestClient, as_user: Callable[[str], TestClient], book: Book, engine: Engine,
) -> None:
    goal_id = book.goal_ids[0]
    url = f"/accounts/acme/plans/{book.plan_id}/goals/{goal_id}"
    other = as_user(OTHER_CSM)
    assert other.post(url, headers={**HX, "X-CSRF-Token": csrf(other, "/accounts/acme")},
                      data={"version": "1", "current_value": "120"}).status_code == 200

    response = csm.post(url, headers={**HX, "X-CSRF-Token": csrf(csm, "/accounts/acme")},
                        data={"version": "1", "current_value": "999"})

    assert response.status_code == 409
    notice = response.context["goal_notices"][goal_id]  # type: ignore[attr-defined]
    assert notice.startswith("Changed by Suzuki Misaki meanwhile")
    assert _goal(engine, goal_id).current_value == 120.0
    assert 'name="version" value="2"' in response.text


def test_a_stale_edit_in_japanese(as_user: Callable[[str], TestClient], book: Book) -> None:
    goal_id = book.goal_ids[0]
    url = f"/accounts/acme/plans/{book.plan_id}/goals/{goal_id}"
    suzuki = as_user(OTHER_CSM)  # her language is Japanese
    token = csrf(suzuki, "/accounts/acme")
    assert suzuki.post(url, headers={**HX, "X-CSRF-Token": token},
                       data={"version": "1", "current_value": "1"}).status_code == 200

    response = suzuki.post(url, headers={**HX, "X-CSRF-Token": token},
                           data={"version": "1", "current_value": "2"})

    assert response.status_code == 409
    assert "その間に Suzuki Misaki さんが変更しました" in response.text


def test_verify_and_steps(csm: TestClient, book: Book, engine: Engine) -> None:
    token = csrf(csm, "/accounts/acme")
    base = f"/accounts/acme/plans/{book.plan_id}/goals/{book.goal_ids[1]}"

    verified = csm.post(f"{base}/verify", headers={**HX, "X-CSRF-Token": token}, data={"version": "1"})
    checked = csm.post(f"{base}/steps/{book.step_ids[0]}", headers={**HX, "X-CSRF-Token": token},
                       data={"version": "1", "done": "true"})
    added = csm.post(f"{base}/steps", headers={**HX, "X-CSRF-Token": token},
                     data={"title": "Go live"})

    assert verified.status_code == checked.status_code == added.status_code == 200
    goal = added.context["goal"]  # type: ignore[attr-defined]
    assert goal["last_verified_by"] == CSM
    assert [(s["title"], s["done"]) for s in goal["steps"]] == [
        ("Invite the sales team", True), ("Run admin training", False), ("Go live", False)]
    assert goal["progress"] == 1 / 3


def test_add_goal_validates_by_kind(csm: TestClient, book: Book, engine: Engine) -> None:
    token = csrf(csm, "/accounts/acme")
    url = f"/accounts/acme/plans/{book.plan_id}/goals"

    bad = csm.post(url, headers={**HX, "X-CSRF-Token": token},
                   data={"title": "Usage", "kind": "quantitative", "target": "many"})
    good = csm.post(url, headers={**HX, "X-CSRF-Token": token},
                    data={"title": "Usage", "kind": "quantitative", "target": "1,000",
                          "metric": "Monthly reports", "unit": "reports"})

    assert bad.status_code == 422
    assert set(bad.context["plan_errors"]) == {"target", "metric"}  # type: ignore[attr-defined]
    assert good.status_code == 200
    with Session(engine) as session:
        goals = plan_goals.list_goals(session, account_id="acme", plan_id=book.plan_id)
    assert [(g.title, g.target, g.metric) for g in goals][-1] == ("Usage", 1000.0, "Monthly reports")


# -- language, time zone, formats ----------------------------------------------------------------


def test_the_language_comes_from_the_user_then_accept_language(
    client: TestClient, as_user: Callable[[str], TestClient]
) -> None:
    assert "ログイン" in client.get("/login", headers={**HTML, "Accept-Language": "ja,en;q=0.5"}).text
    english = client.get("/login", headers={**HTML, "Accept-Language": "fr, en-GB;q=0.8"})
    assert "<h1>Sign in to Bansō</h1>" in english.text

    suzuki = as_user(OTHER_CSM)  # stored language: ja, whatever the browser says
    page = suzuki.get("/accounts/acme", headers={**HTML, "Accept-Language": "en"})
    assert '<html lang="ja">' in page.text
    assert "タイムライン" in page.text and "￥36,000,000" in page.text


def test_switching_language_is_stored_on_the_user(csm: TestClient) -> None:
    token = csrf(csm, "/")
    response = csm.post("/preferences", headers=HTML, follow_redirects=False,
                        data={"csrf_token": token, "language": "ja", "next": "/accounts/acme"})

    assert response.status_code == 303 and response.headers["location"] == "/accounts/acme"
    page = csm.get("/accounts/acme", headers=HTML)
    assert "会議を記録" in page.text
    assert "2026/12/23" in page.text  # the renewal date, formatted for Japanese


def test_signed_out_readers_switch_language_with_a_cookie(client: TestClient, book: Book) -> None:
    token = csrf(client)
    client.post("/preferences", headers=HTML, data={"csrf_token": token, "language": "ja",
                                                     "next": "/login"})

    assert "Bansō にログイン" in client.get("/login", headers=HTML).text


def test_times_are_shown_in_the_users_time_zone(csm: TestClient, engine: Engine) -> None:
    token = csrf(csm, "/me")
    csm.post("/preferences", headers=HTML, data={"csrf_token": token, "timezone": "Europe/Paris"})

    page = csm.get("/accounts/acme", headers=HTML)

    # The meeting three days ago at 09:00 UTC is 10:00 in Paris (18:00 in the team's Tokyo).
    assert "Nov 20, 2026 10:00" in page.text
    assert page.context["form"]["occurred_at"] == "2026-11-23T10:00"  # type: ignore[attr-defined]


def test_an_unknown_language_is_refused(csm: TestClient) -> None:
    response = csm.post("/preferences", headers=HTML,
                        data={"csrf_token": csrf(csm, "/"), "language": "xx"})

    assert response.status_code == 422


def test_sign_in_page_for_a_signed_in_user_goes_on(csm: TestClient) -> None:
    response = csm.get("/login?next=/accounts/acme", headers=HTML, follow_redirects=False)

    assert response.headers["location"] == "/accounts/acme"


def test_a_deactivated_user_is_signed_out(csm: TestClient, admin: TestClient, engine: Engine) -> None:
    from app.auth.users import get_user_by_email
    from app.models import User

    with Session(engine) as session:
        user = get_user_by_email(session, CSM)
        assert isinstance(user, User)
        user_id = user.id
    token = csrf(admin, "/settings/users")
    assert admin.post(f"/settings/users/{user_id}", headers=HTML, follow_redirects=False,
                      data={"csrf_token": token, "active": "false"}).status_code == 303

    assert csm.get("/", headers=HTML, follow_redirects=False).status_code == 303
    relogin = TestClient(csm.app, raise_server_exceptions=False)
    token = csrf(relogin)
    refused = relogin.post("/login", headers=HTML, data={"email": CSM, "password": PASSWORD,
                                                         "csrf_token": token})
    assert refused.status_code == 401


def test_sign_in_helper_fails_loudly_on_a_wrong_password(client: TestClient, book: Book) -> None:
    import pytest

    with pytest.raises(AssertionError):
        sign_in(client, CSM, "not the password")


def test_an_htmx_error_becomes_a_toast(viewer: TestClient, book: Book) -> None:
    response = viewer.post(f"/accounts/acme/plans/{book.plan_id}/goals/{book.goal_ids[0]}/verify",
                           headers={**HX, "X-CSRF-Token": csrf(viewer, "/accounts/acme")},
                           data={"version": "1"})

    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#toasts"
    assert response.template.name == "components/toast.html"  # type: ignore[attr-defined]
    assert "<html" not in response.text and "Not permitted" in response.text
