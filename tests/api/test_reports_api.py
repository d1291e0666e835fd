"""Adoption reports through the API and the customer's pages: generate, send, link, revoke;
check-in answers; scheduled sends once per period."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.models import (
    AdoptionReport,
    Checkin,
    Contact,
    Interaction,
    Outbox,
    Task,
    UsageAccountDay,
    UsageActiveUser,
    UsageDaily,
)
from app.reports import checkins
from app.reports import service as reports
from app.usage import features
from tests.builders import AS_OF, make_account, make_contact, make_interaction

Headers = dict[str, str]
EN = {"Accept-Language": "en"}
#: Day 35 of the contracts ``seed`` makes (from 2026-09-01): inside the check-in window.
CHECKIN_AT = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC)


def seed(engine: Engine) -> int:
    """Acme (50 seats) with a champion; usage in October and November 2026."""
    with session_scope(engine) as session:
        account = make_account(session, licensed_seats=50,
                               contract_start_on=dt.date(2026, 9, 1))
        champion = make_contact(session, email="yui@acme.example", name="Yui", is_champion=True)
        features.create_feature(session, feature_in=features.FeatureIn(
            "reports", "Reports", ["report.*"], is_key=True), now=AS_OF)
        features.create_feature(session, feature_in=features.FeatureIn(
            "alerts", "Alerts", ["alert.*"], is_key=True), now=AS_OF)
        assert account.id is not None
        for day, users in ((dt.date(2026, 10, 5), 2), (dt.date(2026, 10, 6), 3)):
            session.add(UsageAccountDay(account_id=account.id, day=day, active_users=users,
                                        event_count=10))
            session.add(UsageDaily(account_id=account.id, day=day, event="report.viewed",
                                   event_count=10, distinct_users=users))
            for i in range(users):
                session.add(UsageActiveUser(account_id=account.id, day=day, user_key=f"u{i}"))
        assert champion.id is not None
        return champion.id


def test_adoption_json(client: TestClient, engine: Engine, auth: Callable[[str], Headers]) -> None:
    seed(engine)
    r = client.get("/api/v1/accounts/acme/adoption?from=2026-10-01&to=2026-10-31",
                   headers=auth("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    # 3 distinct users (u0..u2) of 50 seats; 5 user-days / 3 users; 1 of 2 key features.
    assert body["active_users"]["value"] == 3 and body["activation"]["value"] == 0.06
    assert body["frequency"]["value"] == 1.67 and body["breadth"]["value"] == 0.5
    assert body["key_features_unused"] == ["alerts"]
    assert len(body["active_users"]["trend"]) == 6 and body["periods"][0][0] == "2026-05-01"
    assert {"action": "feature_rollout", "reason": "unused_feature", "feature": "alerts"} in \
        body["next_steps"]
    bad = client.get("/api/v1/accounts/acme/adoption?from=2026-10-31&to=2026-10-01",
                     headers=auth("read"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"


def test_send_report_link_revoke(
    client: TestClient, engine: Engine, settings: Settings, auth: Callable[[str], Headers]
) -> None:
    champion_id = seed(engine)
    writer = {**auth("write"), "Idempotency-Key": "send-1"}
    body = {"from": "2026-10-01", "to": "2026-10-31", "language": "en",
            "message": "Great month <team>!", "contact_ids": [champion_id]}
    r = client.post("/api/v1/accounts/acme/adoption-reports", headers=writer, json=body)
    assert r.status_code == 201, r.text
    report = r.json()
    retry = client.post("/api/v1/accounts/acme/adoption-reports", headers=writer, json=body)
    assert retry.status_code == 200 and retry.json()["id"] == report["id"]
    assert report["recipients"] == ["yui@acme.example"]
    with Session(engine) as session:
        (mail,) = session.exec(select(Outbox)).all()
        (sent,) = session.exec(select(Interaction).where(Interaction.type == "email_sent")).all()
    assert mail.state == "queued" and mail.kind == "report" and mail.to_addr == "yui@acme.example"
    assert mail.subject.startswith("Adoption summary for Acme")
    assert sent.data["adoption_report_id"] == report["id"] and sent.title == mail.subject
    assert "Great month <team>!" in mail.text_body
    assert "Great month &lt;team&gt;!" in (mail.html_body or "")
    assert "<script" not in (mail.html_body or "") and "src=\"http" not in (mail.html_body or "")
    link = re.search(r"https?://\S+/r/\S+", mail.text_body)
    assert link is not None and link.group(0) == report["link"]
    path = "/r/" + link.group(0).rsplit("/r/", 1)[1]
    assert client.head(path).status_code == 200  # a HEAD (a link checker) is not a click
    with Session(engine) as session:
        assert session.exec(select(Interaction).where(Interaction.type == "email_click")).all() == []
    page = client.get(path)
    assert page.status_code == 200 and "Acme" in page.text and "Reports" in page.text
    assert client.get(path).status_code == 200  # opened twice: one click on the timeline
    with Session(engine) as session:
        clicks = session.exec(select(Interaction).where(Interaction.type == "email_click")).all()
    assert [c.data for c in clicks] == [{"adoption_report_id": report["id"]}]

    tampered = client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"), headers=EN)
    assert tampered.status_code == 403 and "not valid" in tampered.text

    got = client.get(f"/api/v1/adoption-reports/{report['id']}", headers=auth("read"))
    assert got.status_code == 200 and got.json()["report"]["active_users"]["value"] == 3
    revoked = client.post(f"/api/v1/adoption-reports/{report['id']}/revoke", headers=auth("write"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    gone = client.get(path, headers=EN)
    assert gone.status_code == 410 and "no longer available" in gone.text

    with session_scope(engine) as session:
        second = reports.generate(
            session, settings=settings, account_id="acme", start=None, end=None, language="ja",
            message=None, contact_ids=[], emails=[], actor="t", now=AS_OF)
        assert second is not None and second.id is not None
        second.expires_at = AS_OF  # the test clock is AS_OF: expired now
        token = reports.token_for(settings, second.id)
    assert client.get(f"/r/{token}").status_code == 410


def test_recipients_must_be_the_accounts_contacts(
    client: TestClient, engine: Engine, auth: Callable[[str], Headers]
) -> None:
    seed(engine)
    with session_scope(engine) as session:
        make_contact(session, email="ken@acme.example", name="Ken")
        choices = reports.recipient_choices(session, account_id="acme")
    assert [(c.email, chosen) for c, chosen in choices] == [("yui@acme.example", True),
                                                           ("ken@acme.example", False)]
    r = client.post("/api/v1/accounts/acme/adoption-reports", headers=auth("write"),
                    json={"emails": ["stranger@example.com"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "emails[0]"


def test_checkin_answers_are_idempotent_and_problem_makes_a_task(
    client: TestClient, engine: Engine, settings: Settings,
) -> None:
    seed(engine)
    with session_scope(engine) as session:
        other = make_account(session, id="beta", name="Beta", contract_start_on=dt.date(2026, 9, 1))
        make_contact(session, account_id="beta", email="ken@beta.example", is_champion=True)
        make_interaction(session, account=other, type="webinar",
                         occurred_at=dt.datetime(2026, 9, 10, tzinfo=dt.UTC))
        assert checkins.send_checkins(session, settings=settings, now=CHECKIN_AT) == 1
    with session_scope(engine) as session:
        assert checkins.send_checkins(session, settings=settings, now=CHECKIN_AT) == 0
        (mail,) = session.exec(select(Outbox).where(Outbox.kind == "checkin")).all()
        (checkin,) = session.exec(select(Checkin)).all()
    assert mail.to_addr == "yui@acme.example"  # Beta attended a webinar: not asked
    links = dict(re.findall(r"^(.+): (https?://\S+/c/\S+)$", mail.text_body, re.M))
    assert len(links) == 3
    problem = next(url for label, url in links.items() if "Problem" in label or "課題" in label)
    path = "/c/" + problem.rsplit("/c/", 1)[1]
    # A link scanner opens every link (GET, HEAD): nothing is recorded, the answer is only
    # preselected on a page whose one button confirms it.
    for url in links.values():
        opened = client.get("/c/" + url.rsplit("/c/", 1)[1], headers=EN)
        assert opened.status_code == 200 and "ご回答の確認" in opened.text
        assert client.head("/c/" + url.rsplit("/c/", 1)[1]).status_code == 200
    page = client.get(path, headers=EN)
    assert re.search(r'value="problem" checked', page.text)
    assert re.search(r'<form method="post" action="/c/[^"]+"', page.text)
    assert "form-action 'self'" in page.headers["content-security-policy"]
    with Session(engine) as session:
        assert session.get(Checkin, checkin.id).answer is None  # type: ignore[union-attr]
        assert session.exec(select(Task)).all() == []
    first = client.post(path, data={"answer": "problem"}, headers=EN)
    assert first.status_code == 200 and "折り返しお電話します" in first.text
    again = client.post(path, data={"answer": "problem"}, headers=EN)
    assert again.status_code == 200 and "すでに受け付けています" in again.text
    other_answer = next(url for url in links.values() if url != problem)
    late = client.post("/c/" + other_answer.rsplit("/c/", 1)[1], data={"answer": "done"},
                       headers=EN)
    assert late.status_code == 200 and "すでに受け付けています" in late.text
    reopened = client.get(path, headers=EN)  # answered: acknowledged, no form any more
    assert "すでに受け付けています" in reopened.text and "<form" not in reopened.text
    with Session(engine) as session:
        stored = session.get(Checkin, checkin.id)
        replies = session.exec(select(Interaction).where(Interaction.type == "email_reply")).all()
        task_rows = session.exec(select(Task)).all()
    assert stored is not None and stored.answer == "problem"
    assert len(replies) == 1 and replies[0].data == {"checkin": checkin.id, "answer": "problem"}
    assert len(task_rows) == 1 and task_rows[0].id == stored.task_id
    assert client.get(path[:-3] + "xyz").status_code == 403
    assert client.post(path[:-3] + "xyz", data={"answer": "done"}).status_code == 403


def test_checkin_confirm_may_change_the_answer_and_rejects_unknown_ones(
    client: TestClient, engine: Engine, settings: Settings,
) -> None:
    seed(engine)
    with session_scope(engine) as session:
        assert checkins.send_checkins(session, settings=settings, now=CHECKIN_AT) == 1
        (checkin,) = session.exec(select(Checkin)).all()
        assert checkin.id is not None
        link = checkins.answer_link(settings, checkin.id, "on_track")
    path = "/c/" + link.rsplit("/c/", 1)[1]
    bad = client.post(path, data={"answer": "maybe"}, headers=EN)
    assert bad.status_code == 422 and "ご回答の確認" in bad.text  # asked again
    # The reader picked "Done" on the page opened from the "On track" link: "Done" counts.
    assert "ありがとう" in client.post(path, data={"answer": "done"}, headers=EN).text
    with Session(engine) as session:
        stored = session.get(Checkin, checkin.id)
        assert stored is not None and stored.answer == "done" and stored.task_id is None


def test_scheduled_reports_fire_once_per_period(engine: Engine, settings: Settings) -> None:
    seed(engine)
    created = dt.datetime(2026, 9, 15, tzinfo=dt.UTC)
    with session_scope(engine) as session:
        reports.create_schedule(session, account_id="acme", cadence="monthly", day_of_month=1,
                                recipients=["yui@acme.example"], language="en", now=created)
        reports.create_schedule(session, account_id="acme", cadence="quarterly", day_of_month=5,
                                recipients=["yui@acme.example"], language="ja", now=created)
    # 03:00 in Tokyo on 5 October (Q3's report is due) and on 1 November (October's).
    for now in (dt.datetime(2026, 10, 4, 18, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 10, 31, 18, 0, tzinfo=dt.UTC)):
        for _ in range(2):  # a second run (a restart) sends nothing more
            with session_scope(engine) as session:
                reports.run_schedules(session, settings=settings, now=now)
    with session_scope(engine) as session:
        made = session.exec(select(AdoptionReport)).all()
        mails = session.exec(select(Outbox)).all()
    keys = sorted(r.dedupe_key or "" for r in made)
    assert keys == ["schedule:1:2026-10", "schedule:2:2026-Q3"]
    assert len(mails) == 2
    quarterly = next(r for r in made if r.dedupe_key == "schedule:2:2026-Q3")
    assert (quarterly.period_start, quarterly.period_end) == (dt.date(2026, 7, 1),
                                                              dt.date(2026, 9, 30))


def test_checkin_templates_and_outbox_api(
    client: TestClient, engine: Engine, auth: Callable[[str], Headers]
) -> None:
    default = client.get("/api/v1/email-templates/checkin/en", headers=auth("read"))
    assert default.status_code == 200 and default.json()["customised"] is False
    assert "$account_name" in default.json()["body"]
    body = {"subject": "Rollout at $account_name?", "body": "Hi $contact_name"}
    assert client.put("/api/v1/email-templates/checkin/en", headers=auth("write"),
                      json=body).status_code == 403
    saved = client.put("/api/v1/email-templates/checkin/en", headers=auth("admin"), json=body)
    assert saved.status_code == 200 and saved.json()["customised"] is True
    got = client.get("/api/v1/email-templates/checkin/en", headers=auth("read")).json()
    assert got["subject"] == "Rollout at $account_name?"
    assert client.delete("/api/v1/email-templates/checkin/en",
                         headers=auth("write")).status_code == 403
    reset = client.delete("/api/v1/email-templates/checkin/en", headers=auth("admin"))
    assert reset.status_code == 200 and reset.json()["customised"] is False
    assert reset.json()["subject"] == default.json()["subject"]
    assert client.put("/api/v1/email-templates/checkin/en", headers=auth("admin"),
                      json=body).status_code == 200
    bad = client.put("/api/v1/email-templates/checkin/en", headers=auth("admin"),
                     json={"subject": "x", "body": "Hi $password"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body"
    assert client.get("/api/v1/email-templates/nope/en", headers=auth("read")).status_code == 404

    with session_scope(engine) as session:
        from app.email import outbox

        row = outbox.enqueue(session, kind="other", to="a@b.example", subject="s", text="t",
                             html=None, mail_from="x@example.com", now=AS_OF)
        assert row is not None
        claimed = outbox.claim(session, now=AS_OF)
        assert claimed is not None
        outbox.mark_failed(session, claimed, error="554 rejected", now=AS_OF)
    listed = client.get("/api/v1/outbox?state=failed", headers=auth("admin")).json()["data"]
    assert [(m["id"], m["last_error"]) for m in listed] == [(row.id, "554 rejected")]
    assert (listed[0]["priority"], listed[0]["send_by"]) == (0, None)
    unknown = client.get("/api/v1/outbox?state=bounced", headers=auth("admin"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "state"
    retried = client.post(f"/api/v1/outbox/{row.id}/retry", headers=auth("admin"))
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    assert client.post(f"/api/v1/outbox/{row.id}/retry", headers=auth("admin")).status_code == 409


def test_a_schedule_whose_recipient_left_is_skipped(engine: Engine, settings: Settings) -> None:
    seed(engine)
    with session_scope(engine) as session:
        make_contact(session, email="ken@acme.example", name="Ken")
        reports.create_schedule(session, account_id="acme", cadence="monthly", day_of_month=3,
                                recipients=["ken@acme.example"], language="en", now=AS_OF)
        reports.create_schedule(session, account_id="acme", cadence="monthly", day_of_month=3,
                                recipients=["yui@acme.example"], language="en", now=AS_OF)
    with session_scope(engine) as session:
        from app.accounts import service as accounts

        ken = session.exec(select(Contact).where(Contact.email == "ken@acme.example")).one()
        accounts.delete_contact(session, account_id="acme", contact_id=ken.id or 0, now=AS_OF)
    due = dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # 3 December, 01:00 in Tokyo
    with session_scope(engine) as session:
        assert reports.run_schedules(session, settings=settings, now=due) == 1
        (made,) = session.exec(select(AdoptionReport)).all()
    assert made.recipients == ["yui@acme.example"] and made.dedupe_key == "schedule:2:2026-11"


def test_report_schedules_api_lists_and_stops(
    client: TestClient, engine: Engine, auth: Callable[[str], Headers]
) -> None:
    seed(engine)
    made = client.post("/api/v1/accounts/acme/report-schedules", headers=auth("write"),
                       json={"cadence": "monthly", "day_of_month": 2,
                             "recipients": ["yui@acme.example"], "language": "en"})
    assert made.status_code == 201, made.text
    listed = client.get("/api/v1/accounts/acme/report-schedules", headers=auth("read")).json()
    assert [(s["id"], s["cadence"], s["day_of_month"], s["recipients"]) for s in listed["data"]] \
        == [(made.json()["id"], "monthly", 2, ["yui@acme.example"])]
    path = f"/api/v1/accounts/acme/report-schedules/{made.json()['id']}"
    assert client.delete(path, headers=auth("read")).status_code == 403
    assert client.delete(path, headers=auth("write")).status_code == 204
    assert client.delete(path, headers=auth("write")).status_code == 404
    assert client.get("/api/v1/accounts/acme/report-schedules",
                      headers=auth("read")).json()["data"] == []


def test_a_long_idempotency_key_on_a_long_account_id(
    client: TestClient, engine: Engine, auth: Callable[[str], Headers]
) -> None:
    """The stored dedupe key (``api:{account}:{key}``) fits its column for the longest ids."""
    long_id = "a" * 255
    with session_scope(engine) as session:
        make_account(session, id=long_id)
    url = f"/api/v1/accounts/{long_id}/adoption-reports"
    made = client.post(url, headers={**auth("write"), "Idempotency-Key": "k" * 128}, json={})
    assert made.status_code == 201, made.text
    again = client.post(url, headers={**auth("write"), "Idempotency-Key": "k" * 128}, json={})
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    too_long = client.post(url, headers={**auth("write"), "Idempotency-Key": "k" * 129},
                           json={})  # 255: a 500 on PostgreSQL (a 515-character dedupe key)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "Idempotency-Key"
