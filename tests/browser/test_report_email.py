"""The adoption summary email's HTML, rendered in Chromium as a mail client would show it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.models import Outbox, UsageAccountDay, UsageActiveUser, UsageDaily
from app.reports import service as reports
from app.usage import features
from tests.builders import AS_OF, make_account, make_contact


def test_report_email_renders(browser: Any, engine: Engine, settings: Settings,
                              screenshot: Any) -> None:
    with session_scope(engine) as session:
        account = make_account(session, licensed_seats=20)
        make_contact(session, email="yui@acme.example", name="Yui", is_champion=True)
        features.create_feature(session, feature_in=features.FeatureIn(
            "reports", "Reports", ["report.*"], is_key=True), now=AS_OF)
        features.create_feature(session, feature_in=features.FeatureIn(
            "alerts", "Alerts", ["alert.*"], is_key=True), now=AS_OF)
        assert account.id is not None
        for i in range(12):
            day = dt.date(2026, 10, 1) + dt.timedelta(days=i * 2)
            session.add(UsageAccountDay(account_id=account.id, day=day, active_users=i % 5 + 1,
                                        event_count=30))
            session.add(UsageDaily(account_id=account.id, day=day, event="report.viewed",
                                   event_count=30, distinct_users=i % 5 + 1))
            for u in range(i % 5 + 1):
                session.add(UsageActiveUser(account_id=account.id, day=day, user_key=f"u{u}"))
        reports.generate(session, settings=settings, account_id="acme", start=None, end=None,
                         language="en", message="Thank you for a great month.", contact_ids=[],
                         emails=["yui@acme.example"], actor="csm@example.com", now=AS_OF)
    with Session(engine) as session:
        mail = session.exec(select(Outbox)).one()
    assert mail.html_body is not None
    page = browser.new_page(viewport={"width": 700, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_content(mail.html_body, wait_until="load")
    # No scripts and no remote assets: the only load is the document itself.
    assert page.evaluate("document.scripts.length") == 0
    assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
    width = page.evaluate("document.querySelector('table table').getBoundingClientRect().width")
    assert 500 <= width <= 600
    assert "Reports" in page.inner_text("body")
    path = screenshot(page, "adoption-report-email")
    assert path.exists() and path.stat().st_size > 10_000
    page.close()


def test_customer_web_view_renders_with_its_styles(
    browser: Any, engine: Engine, settings: Settings, live_server: str, screenshot: Any
) -> None:
    with session_scope(engine) as session:
        make_account(session, licensed_seats=20)
        features.create_feature(session, feature_in=features.FeatureIn(
            "reports", "Reports", ["report.*"], is_key=True), now=AS_OF)
        report = reports.generate(session, settings=settings, account_id="acme", start=None,
                                  end=None, language="en", message="Thank you!", contact_ids=[],
                                  emails=[], actor="csm@example.com", now=AS_OF)
        assert report is not None and report.id is not None
        token = reports.token_for(settings, report.id)
    page = browser.new_page(viewport={"width": 800, "height": 900})
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text
            else None)
    response = page.goto(f"{live_server}/r/{token}")
    assert response is not None and response.status == 200
    # The inline styles apply under the page's own policy (the card is white on grey).
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(243, 244, 246)" and violations == []
    assert "Thank you!" in page.inner_text("main")
    screenshot(page, "adoption-report-web")
    gone = page.goto(f"{live_server}/r/{token}x")
    assert gone is not None and gone.status == 403
    page.close()
