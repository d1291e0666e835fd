"""A goal's progress is one figure: the account page's plan panel and the customer's adoption
report show the same, including for a target equal to the baseline ("keep it at 50"), and write
a share the same way."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.i18n import L10n
from app.models import AdoptionReport
from app.plans import goals as plans_svc
from app.plans.schemas import GoalCreate
from app.reports.service import report_context, token_for
from tests.views.conftest import HTML, csrf
from tests.views.data import AS_OF, CSM, TZ, Book

#: Title → (current value, progress), every goal with baseline = target = 50.
HELD = {"Keep 50 weekly users": (60.0, 1.0), "Back to 50 weekly users": (40.0, 0.0)}


def _report_cell(html: str, title: str) -> str:
    match = re.search(rf">{re.escape(title)}</td>\s*<td[^>]*>([^<]*)<", html)
    assert match is not None, title
    return match.group(1).strip()


def test_target_equal_to_baseline_shows_the_same_progress_on_the_page_and_in_the_report(
    engine: Engine, book: Book, csm: TestClient, client: TestClient, settings: Settings
) -> None:
    with Session(engine) as session:
        for title, (current, _) in HELD.items():
            plans_svc.create_goal(
                session,
                account_id="acme",
                plan_id=book.plan_id,
                goal_in=GoalCreate(
                    title=title,
                    kind="quantitative",
                    metric="Weekly active users",
                    unit="users",
                    baseline=50.0,
                    target=50.0,
                    current_value=current,
                ),
                actor=CSM,
                now=AS_OF,
            )
        session.commit()

    page = csm.get("/accounts/acme", headers=HTML)
    assert page.status_code == 200
    goals = {g["title"]: g for g in page.context["plan"]["goals"]}  # type: ignore[attr-defined]
    for title, (_, expected) in HELD.items():
        assert goals[title]["progress"] == expected
        shown = f"Progress {expected:.0%}"
        assert f'<label for="progress-{goals[title]["id"]}" class="small">{shown}</label>' in page.text

    sent = csm.post(
        "/accounts/acme/adoption-summary",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": csrf(csm, "/accounts/acme"),
            "start": "2026-10-01",
            "end": "2026-10-31",
            "language": "en",
            "recipients": [book.contact_ids[0]],
            "key": "g" * 32,
        },
    )
    assert sent.status_code == 303, sent.text
    with Session(engine) as session:
        (report,) = session.exec(select(AdoptionReport)).all()
    stored = {g["title"]: g["progress"] for g in report.data["goals"]}
    web = client.get(f"/r/{token_for(settings, report.id or 0)}")
    assert web.status_code == 200
    for title, (_, expected) in HELD.items():
        assert stored[title] == goals[title]["progress"] == expected
        assert _report_cell(web.text, title) == f"{expected:.0%}"
    # Every other goal agrees too (the report leaves a goal without numbers to its status).
    for title, goal in goals.items():
        if stored[title] is not None:
            assert stored[title] == goal["progress"]


def test_the_report_writes_a_share_as_the_pages_do() -> None:
    context = report_context(
        {"depth": []}, account_name="Acme", language="en", tz=TZ, message=None, link=None
    )
    page = L10n("en", TZ)
    for share in (None, 0.0, 1 / 3, 0.545, 0.575, 1.0):
        assert context["pct"](share) == page.percent(share)
    assert context["pct"](0.545) == "54%"  # 54.5 to the even whole percent (was 55%)
