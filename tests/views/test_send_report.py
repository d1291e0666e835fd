"""Send adoption summary from the account page: the panel, the compose page with its preview,
the send (once per send key), scheduled sends; and the admins' email wording page."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.email import outbox
from app.models import AdoptionReport, EmailTemplate, Interaction, Outbox, ReportSchedule
from tests.integration.test_smtp_outbox import Catcher, queue, smtp, smtp_settings
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import Book

__all__ = ["smtp"]  # the loopback SMTP server fixture

COMPOSE = "/accounts/acme/adoption-summary"


def _form(client: TestClient, book: Book, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": csrf(client, "/accounts/acme"),
        "start": "2026-10-01",
        "end": "2026-10-31",
        "language": "en",
        "message": "Thanks <team>!",
        "recipients": [book.contact_ids[0]],
        "key": "k" * 32,
    }
    data.update(changes)
    return data


def test_panel_preselects_the_champion_and_viewers_see_none(
    book: Book, csm: TestClient, viewer: TestClient
) -> None:
    page = csm.get("/accounts/acme", headers=HTML)
    assert page.status_code == 200
    panel = page.context["send"]  # type: ignore[attr-defined]
    assert [(c.email, chosen) for c, chosen in panel["choices"]] == [
        ("taro@acme.example", True),
        ("aya@acme.example", False),
    ]
    # Last whole month before the page's day (2026-11-23 in Tokyo).
    assert (panel["form"]["start"], panel["form"]["end"]) == ("2026-10-01", "2026-10-31")
    assert panel["form"]["recipients"] == [book.contact_ids[0]]
    assert 'id="send-report"' in page.text
    assert f'value="{book.contact_ids[0]}" checked' in page.text
    assert f'value="{book.contact_ids[1]}" checked' not in page.text

    composed = csm.get(COMPOSE, headers=HTML)  # the same defaults, previewed at once
    assert composed.status_code == 200 and composed.context["preview"] is not None  # type: ignore[attr-defined]
    assert [c.email for c in composed.context["to"]] == ["taro@acme.example"]  # type: ignore[attr-defined]
    assert composed.context["form"]["language"] == "ja"  # type: ignore[attr-defined]

    seen = viewer.get("/accounts/acme", headers=HTML)
    assert seen.status_code == 200 and 'id="send-report"' not in seen.text
    assert viewer.get(COMPOSE, headers=HTML).status_code == 403
    assert viewer.post(COMPOSE, headers=HTML, data=_form(viewer, book)).status_code == 403


def test_preview_shows_exactly_the_email_then_send_once(engine: Engine, book: Book, csm: TestClient) -> None:
    data = _form(csm, book)
    preview = csm.post(f"{COMPOSE}/preview", headers=HTML, data=data)
    assert preview.status_code == 200, preview.text
    assert preview.template.name == "accounts/send_report.html"  # type: ignore[attr-defined]
    shown = preview.context["preview"]  # type: ignore[attr-defined]
    assert shown.subject.startswith("Adoption summary for Acme Corporation")
    assert "Thanks <team>!" in shown.text and "Thanks &lt;team&gt;!" in shown.html
    # The HTML part sits in a sandboxed frame; the page allows the email's inline styles only.
    assert 'sandbox=""' in preview.text and "srcdoc=" in preview.text
    assert "Thanks &amp;lt;team&amp;gt;!" in preview.text  # escaped once more inside srcdoc
    policy = preview.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self'" in policy
    assert "Yamada Taro &lt;taro@acme.example&gt;" in preview.text
    swapped = csm.post(f"{COMPOSE}/preview", headers=HX, data={**data, "language": "ja"})
    assert swapped.status_code == 200 and "<html" not in swapped.text
    assert swapped.context["preview"].subject.startswith("Acme Corporation 様")  # type: ignore[attr-defined]

    sent = csm.post(COMPOSE, headers=HTML, data=data, follow_redirects=False)
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert re.fullmatch(r"/accounts/acme\?sent=\d+#send-report", location)
    again = csm.post(COMPOSE, headers=HX, data=data)  # a double submit: the same report
    assert again.status_code == 200 and again.headers["HX-Redirect"] == location
    with Session(engine) as session:
        (report,) = session.exec(select(AdoptionReport)).all()
        (mail,) = session.exec(select(Outbox)).all()
        (logged,) = session.exec(select(Interaction).where(Interaction.type == "email_sent")).all()
    assert report.recipients == ["taro@acme.example"] and report.created_by == "sato@example.com"
    assert (str(report.period_start), str(report.period_end)) == ("2026-10-01", "2026-10-31")
    assert mail.to_addr == "taro@acme.example" and mail.subject == shown.subject
    assert mail.text_body.replace(f"/r/{_token(mail.text_body)}", "/r/…") == shown.text
    assert logged.data["adoption_report_id"] == report.id

    page = csm.get(location.split("#")[0], headers=HTML)
    assert "Adoption summary queued for taro@acme.example" in page.text
    assert mail.subject in page.text  # on the timeline
    (recent,) = page.context["send"]["recent"]  # type: ignore[attr-defined]
    assert recent["state"] == "open" and recent["link"].endswith(f"/r/{_token(mail.text_body)}")
    customer_path = f"/r/{_token(mail.text_body)}"
    assert csm.get(customer_path).status_code == 200  # the CSM checking it: not a click

    revoke = f"/accounts/acme/adoption-reports/{report.id}/revoke"
    token = csrf(csm, "/accounts/acme")
    assert (
        csm.post(
            f"/accounts/globex/adoption-reports/{report.id}/revoke", headers=HTML, data={"csrf_token": token}
        ).status_code
        == 404
    )
    withdrawn = csm.post(revoke, headers=HX, data={"csrf_token": token})
    assert withdrawn.status_code == 200 and "link withdrawn" in withdrawn.text
    assert csm.get(customer_path).status_code == 410
    with Session(engine) as session:
        assert session.exec(select(Interaction).where(Interaction.type == "email_click")).all() == []


def test_send_now_is_delivered_right_after_the_response_before_bulk_mail(
    app: FastAPI,
    engine: Engine,
    settings: Settings,
    book: Book,
    csm: TestClient,
    smtp: tuple[Catcher, int],
) -> None:
    catcher, port = smtp
    app.state.settings = smtp_settings(settings, port)
    for i in range(3):
        queue(engine, to=f"bulk{i}@customer.example")  # check-ins and digests waiting their turn
    sent = csm.post(COMPOSE, headers=HTML, data=_form(csm, book), follow_redirects=False)
    assert sent.status_code == 303
    # No sender job ran: the summary went once the response was out; bulk mail waits for the job.
    assert [str(m["To"]) for m in catcher.messages] == ["taro@acme.example"]
    with Session(engine) as session:
        (mail,) = session.exec(select(Outbox).where(Outbox.to_addr == "taro@acme.example")).all()
        bulk = session.exec(select(Outbox).where(Outbox.to_addr != "taro@acme.example")).all()
    assert mail.state == "sent" and mail.priority == outbox.PRIORITY_PERSON
    assert {row.state for row in bulk} == {"queued"}


def _token(text: str) -> str:
    match = re.search(r"/r/(\S+)", text)
    assert match is not None
    return match.group(1)


def test_send_needs_a_recipient_and_a_valid_period(engine: Engine, book: Book, csm: TestClient) -> None:
    nobody = csm.post(COMPOSE, headers=HTML, data=_form(csm, book, recipients=[]))
    assert nobody.status_code == 422
    assert set(nobody.context["errors"]) == {"recipients"}  # type: ignore[attr-defined]
    assert nobody.context["preview"] is not None  # type: ignore[attr-defined]
    backwards = csm.post(COMPOSE, headers=HX, data=_form(csm, book, start="2026-10-31", end="2026-10-01"))
    assert backwards.status_code == 422 and "<html" not in backwards.text
    assert set(backwards.context["errors"]) == {"period"}  # type: ignore[attr-defined]
    assert 'id="err-period"' in backwards.text
    garbled = csm.post(f"{COMPOSE}/preview", headers=HTML, data=_form(csm, book, start="10/1"))
    assert garbled.status_code == 422 and garbled.context["preview"] is None  # type: ignore[attr-defined]
    stranger = csm.post(COMPOSE, headers=HTML, data=_form(csm, book, recipients=[999999]))
    assert stranger.status_code == 422
    assert set(stranger.context["errors"]) == {"recipients"}  # type: ignore[attr-defined]
    without_token = csm.post(COMPOSE, headers=HTML, data={**_form(csm, book), "csrf_token": "nope"})
    assert without_token.status_code == 403
    with Session(engine) as session:
        assert session.exec(select(AdoptionReport)).all() == []
        assert session.exec(select(Outbox)).all() == []


def test_schedules_are_added_and_stopped_from_the_panel(
    engine: Engine, book: Book, csm: TestClient, viewer: TestClient
) -> None:
    token = csrf(csm, "/accounts/acme")
    added = csm.post(
        "/accounts/acme/report-schedules",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": token,
            "cadence": "quarterly",
            "day_of_month": "5",
            "language": "ja",
            "recipients": ["aya@acme.example"],
        },
    )
    assert added.status_code == 303 and added.headers["location"].endswith("#send-report")
    twice = csm.post(  # the same schedule again (a double click): still one
        "/accounts/acme/report-schedules",
        headers=HX,
        data={
            "csrf_token": token,
            "cadence": "quarterly",
            "day_of_month": "5",
            "language": "ja",
            "recipients": ["aya@acme.example"],
        },
    )
    assert twice.status_code == 200 and twice.text.count("Quarterly on day 5") == 1
    bad = csm.post(
        "/accounts/acme/report-schedules",
        headers=HX,
        data={
            "csrf_token": token,
            "cadence": "monthly",
            "day_of_month": "30",
            "recipients": ["taro@acme.example"],
        },
    )
    assert bad.status_code == 422 and "<html" not in bad.text
    assert bad.template.name == "accounts/_send_report.html"  # type: ignore[attr-defined]
    assert 'id="err-day_of_month"' in bad.text and 'value="30"' in bad.text
    nobody = csm.post(
        "/accounts/acme/report-schedules",
        headers=HTML,
        data={"csrf_token": token, "cadence": "monthly", "day_of_month": "1"},
    )
    assert nobody.status_code == 422
    assert nobody.template.name == "accounts/detail.html"  # type: ignore[attr-defined]
    assert nobody.context["send"]["schedule_errors"].keys() == {"recipients"}  # type: ignore[attr-defined]
    with Session(engine) as session:
        (schedule,) = session.exec(select(ReportSchedule)).all()
    assert (schedule.cadence, schedule.day_of_month, schedule.recipients) == (
        "quarterly",
        5,
        ["aya@acme.example"],
    )
    page = csm.get("/accounts/acme", headers=HTML)
    assert "Quarterly on day 5" in page.text
    assert (
        viewer.post(
            f"/accounts/acme/report-schedules/{schedule.id}/delete",
            headers=HTML,
            data={"csrf_token": csrf(viewer, "/accounts/acme")},
        ).status_code
        == 403
    )
    stopped = csm.post(
        f"/accounts/acme/report-schedules/{schedule.id}/delete", headers=HX, data={"csrf_token": token}
    )
    assert stopped.status_code == 200 and "No scheduled sends." in stopped.text
    assert (
        csm.post(
            f"/accounts/globex/report-schedules/{schedule.id}/delete",
            headers=HTML,
            data={"csrf_token": token},
        ).status_code
        == 404
    )
    with Session(engine) as session:
        assert session.exec(select(ReportSchedule)).all() == []


def test_admins_edit_the_check_in_wording_in_both_languages(
    engine: Engine, book: Book, admin: TestClient, csm: TestClient, settings: Settings
) -> None:
    page = admin.get("/outbox/templates", headers=HTML)
    assert page.status_code == 200
    forms = page.context["forms"]  # type: ignore[attr-defined]
    assert [(f["key"], f["language"], f["customised"]) for f in forms] == [
        ("checkin", "ja", False),
        ("checkin", "en", False),
    ]
    assert "導入は順調に進んでいますか？" in page.text
    # Each language's email as it goes out, names shown as their placeholders, in a sandbox.
    assert page.text.count('sandbox=""') == 2 and "$contact_name 様" in forms[0]["sample_html"]
    assert "style-src 'self' 'unsafe-inline'" in page.headers["content-security-policy"]
    token = csrf(admin, "/outbox/templates")
    wrong = admin.post(
        "/outbox/templates/checkin/ja",
        headers=HX,
        data={"csrf_token": token, "subject": "$account_name 様", "body": "$password"},
    )
    assert wrong.status_code == 422 and "<html" not in wrong.text
    assert "$contact_name" in wrong.text and 'value="$account_name 様"' in wrong.text
    saved = admin.post(
        "/outbox/templates/checkin/ja",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": token,
            "subject": "$account_name 様 導入のご様子は？",
            "body": "$contact_name 様\nいかがですか。",
        },
    )
    assert saved.status_code == 303
    with Session(engine) as session:
        stored = session.get(EmailTemplate, ("checkin", "ja"))
    assert stored is not None and stored.updated_by == "admin@example.com"
    assert stored.body == "$contact_name 様\nいかがですか。"
    reset = admin.post("/outbox/templates/checkin/ja", headers=HX, data={"csrf_token": token, "reset": "1"})
    assert reset.status_code == 200
    assert [f["customised"] for f in reset.context["forms"]] == [False, False]  # type: ignore[attr-defined]
    assert (
        admin.post(
            "/outbox/templates/nope/ja", headers=HTML, data={"csrf_token": token, "subject": "s", "body": "b"}
        ).status_code
        == 404
    )
    assert csm.get("/outbox/templates", headers=HTML).status_code == 403
    # No mail server in the test settings (the default): the outbox says where emails wait.
    assert settings.smtp_url == ""
    assert "No mail server is configured" in admin.get("/outbox", headers=HTML).text
