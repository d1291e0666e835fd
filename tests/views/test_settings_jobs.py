"""Settings → jobs (admins): each scheduled job's last run, success and error, in the reader's
language."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.jobs.service import Outcome
from app.scheduler import Job, default_jobs, run_job_once
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import AS_OF


def _lifecycle(engine: Engine, settings: Settings, *, fails: bool) -> None:
    def run(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
        if fails:
            raise RuntimeError("the <b>playbook</b> broke")
        return {"day": "2026-11-23", "accounts": 1200, "tasks_closed": 2}

    job = Job("lifecycle", dt.timedelta(hours=6), run)
    run_job_once(engine, settings, job, clock=lambda: AS_OF, force=True)


def test_admins_see_each_job_with_its_outcome_and_last_error(
    admin: TestClient, engine: Engine, settings: Settings
) -> None:
    _lifecycle(engine, settings, fails=False)
    _lifecycle(engine, settings, fails=True)

    page = admin.get("/settings/jobs", headers=HTML)

    assert page.status_code == 200
    assert page.template.name == "settings/jobs.html"  # type: ignore[attr-defined]
    rows = {row["name"]: row for row in page.context["jobs"]}  # type: ignore[attr-defined]
    assert list(rows) == [job.name for job in default_jobs()]
    lifecycle = rows["lifecycle"]
    assert lifecycle["label"] == "Stages, signals and playbook tasks"
    assert lifecycle["every"] == "6 hours"
    assert lifecycle["outcome"] == [("day", "2026-11-23"), ("accounts", "1,200"), ("tasks closed", "2")]
    assert lifecycle["run"].consecutive_failures == 1 and rows["score-all"]["run"] is None
    assert "the &lt;b&gt;playbook&lt;/b&gt; broke" in page.text  # escaped
    assert "RuntimeError" in page.text and "never run" in page.text
    assert 'href="/settings/jobs" aria-current="page"' in page.text


def test_the_page_speaks_japanese_and_flags_a_job_that_makes_readyz_503(
    admin: TestClient, engine: Engine, settings: Settings
) -> None:
    _lifecycle(engine, settings, fails=False)
    for _ in range(3):
        _lifecycle(engine, settings, fails=True)
    admin.post(
        "/preferences",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": csrf(admin, "/"), "language": "ja", "next": "/"},
    )

    page = admin.get("/settings/jobs", headers=HTML)

    assert "定期ジョブ" in page.text and "ステージ・シグナル・プレイブックのタスク" in page.text
    assert "クローズしたタスク 2" in page.text and "6 時間" in page.text
    assert "/readyz は 503 を返します" in page.text
    assert page.context["jobs"][5]["unready"] is True  # type: ignore[attr-defined]


def test_an_htmx_request_gets_the_section_alone(admin: TestClient) -> None:
    fragment = admin.get("/settings/jobs", headers=HX)

    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="section"' in fragment.text


def test_only_admins_see_the_jobs(csm: TestClient, viewer: TestClient, admin: TestClient) -> None:
    assert csm.get("/settings/jobs", headers=HTML).status_code == 403
    assert viewer.get("/settings/jobs", headers=HTML).status_code == 403
    assert 'href="/settings/jobs"' in admin.get("/settings/users", headers=HTML).text
