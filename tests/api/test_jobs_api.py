"""Scheduled jobs over HTTP: ``GET /api/v1/jobs`` for admins, and ``/readyz`` turning 503 when a
job fails repeatedly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.jobs.service import Outcome
from app.main import create_app
from app.scheduler import Job, default_jobs, run_job_once
from tests.conftest import AS_OF
from tests.helpers import assert_problem

Headers = dict[str, str]


def _broken(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    raise RuntimeError("the playbook broke")


def _fine(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    return {"accounts": 2}


def _run(engine: Engine, settings: Settings, name: str, times: int = 1, *, fails: bool = True) -> None:
    job = Job(name, dt.timedelta(hours=6), _broken if fails else _fine)
    for n in range(times):
        at = AS_OF + dt.timedelta(minutes=n)
        run_job_once(engine, settings, job, clock=lambda at=at: at, force=True)


def test_admins_list_every_job_with_its_last_run_and_error(
    client: TestClient, engine: Engine, settings: Settings, auth: Callable[[str], Headers]
) -> None:
    _run(engine, settings, "score-all", fails=False)
    _run(engine, settings, "lifecycle", times=2)

    response = client.get("/api/v1/jobs", headers=auth("admin"))

    assert response.status_code == 200, response.text
    listed = {job["name"]: job for job in response.json()["data"]}
    assert list(listed) == [job.name for job in default_jobs()]
    assert listed["score-all"]["status"] == "succeeded"
    assert listed["score-all"]["last_outcome"] == {"accounts": 2}
    assert listed["score-all"]["every_seconds"] == 6 * 3600
    lifecycle = listed["lifecycle"]
    assert (lifecycle["status"], lifecycle["consecutive_failures"]) == ("failed", 2)
    assert lifecycle["last_error"] == {
        "at": "2026-11-23T09:01:00Z",
        "code": "error",
        "type": "RuntimeError",
        "message": "the playbook broke",
    }
    assert lifecycle["next_attempt_at"] == "2026-11-23T09:03:00Z"  # 2 minutes after the 2nd failure
    assert listed["purge-raw-events"]["status"] is None
    assert listed["purge-raw-events"]["last_error"] is None


def test_the_job_list_needs_the_admin_scope(client: TestClient, auth: Callable[[str], Headers]) -> None:
    assert_problem(client.get("/api/v1/jobs", headers=auth("write")), 403)
    assert_problem(client.get("/api/v1/jobs"), 401)


def test_readyz_is_503_naming_a_job_that_failed_three_times_in_a_row(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    _run(engine, settings, "lifecycle", times=2)
    assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").json()["jobs"] == {"failing": []}

    _run(engine, settings, "lifecycle")
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["jobs"]["failing"] == [
        {
            "name": "lifecycle",
            "consecutive_failures": 3,
            "last_error_code": "error",
            "last_error_at": "2026-11-23T09:00:00+00:00",
        }
    ]

    _run(engine, settings, "lifecycle", fails=False)  # a success ends the run of failures
    assert client.get("/readyz").status_code == 200


def test_the_readyz_threshold_is_a_setting_and_0_turns_the_check_off(
    engine: Engine, settings: Settings
) -> None:
    _run(engine, settings, "email-outbox", times=3)
    for threshold, status in ((4, 200), (3, 503), (0, 200)):
        application = create_app(settings.model_copy(update={"readyz_job_failures": threshold}))
        with TestClient(application, raise_server_exceptions=False) as client:
            assert client.get("/readyz").status_code == status, threshold
