"""The account page's stage and signals panel: stage, tier, active signals and open tasks, with
the buttons that mark a task done or dismiss it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.models import Task
from app.views.account_page import signal_facts
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import CSM


def test_signal_facts_keep_known_keys_in_order_and_parse_dates() -> None:
    assert signal_facts(
        {
            "days": 95,
            "limit": 90,
            "last_meeting_on": "2026-08-20",
            "other": 1,
            "views": {"csm": "well"},
            "score": None,
        }
    ) == [
        ("last_meeting_on", "Last meeting", dt.date(2026, 8, 20)),
        ("days", "Days", 95),
        ("limit", "Limit", 90),
    ]


def test_the_panel_shows_stage_tier_signals_and_tasks(csm: TestClient, lifecycle: dict[str, int]) -> None:
    response = csm.get("/accounts/acme", headers=HTML)

    context = response.context  # type: ignore[attr-defined]
    assert context["stage"].stage == "rescue" and context["tier"].tier == 1
    assert [s["row"].kind for s in context["signals"]] == ["no_meeting"]
    assert [t.task.title for t in context["tasks"]] == ["Call the champion", "Plan the QBR"]
    text = response.text
    assert 'id="lifecycle"' in text and "No meeting" in text and "Champion motivation" in text
    assert "overdue since" in text and f"/tasks/{lifecycle['late']}/done" in text


def test_mark_a_task_done_with_htmx_returns_the_panel(
    csm: TestClient, lifecycle: dict[str, int], engine: Engine
) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post(
        f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HX, data={"csrf_token": token}
    )

    assert response.status_code == 200, response.text
    assert "<html" not in response.text and response.text.lstrip().startswith("<section")
    assert [t.task.title for t in response.context["tasks"]] == ["Plan the QBR"]  # type: ignore[attr-defined]
    with Session(engine) as session:
        task = session.get(Task, lifecycle["late"])
        assert task is not None and (task.status, task.closed_by) == ("done", CSM)

    again = csm.post(f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HX, data={"csrf_token": token})
    assert again.status_code == 200  # done again: a safe retry


def test_dismiss_needs_a_reason_and_works_without_javascript(
    csm: TestClient, lifecycle: dict[str, int], engine: Engine
) -> None:
    token = csrf(csm, "/accounts/acme")
    path = f"/accounts/acme/tasks/{lifecycle['soon']}/dismiss"

    missing = csm.post(path, headers=HTML, data={"csrf_token": token, "reason": "  "})
    assert missing.status_code == 422
    assert missing.template.name == "accounts/detail.html"  # type: ignore[attr-defined]
    assert "Say why the task is dismissed." in missing.text

    done = csm.post(
        path,
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "reason": "Customer postponed the QBR"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/accounts/acme#lifecycle"
    with Session(engine) as session:
        task = session.get(Task, lifecycle["soon"])
        assert task is not None
        assert (task.status, task.close_reason) == ("closed", "Customer postponed the QBR")

    closed = csm.post(path, headers=HX, data={"csrf_token": token, "reason": "again"})
    assert closed.status_code == 409 and "closed meanwhile" in closed.text


def test_a_task_of_another_account_is_404(csm: TestClient, lifecycle: dict[str, int]) -> None:
    token = csrf(csm, "/accounts/acme")
    response = csm.post(
        f"/accounts/globex/tasks/{lifecycle['late']}/done", headers=HTML, data={"csrf_token": token}
    )
    assert response.status_code == 404


def test_a_viewer_sees_the_panel_without_buttons_and_cannot_post(
    viewer: TestClient, lifecycle: dict[str, int]
) -> None:
    page = viewer.get("/accounts/acme", headers=HTML)
    assert "Call the champion" in page.text and "/done" not in page.text
    token = csrf(viewer, "/accounts/acme")
    response = viewer.post(
        f"/accounts/acme/tasks/{lifecycle['late']}/done", headers=HTML, data={"csrf_token": token}
    )
    assert response.status_code == 403
