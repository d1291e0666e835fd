"""Scheduled jobs (admin scope): each one's last run, success and error, for monitoring."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.common import ERRORS
from app.deps import AdminKeyDep, SessionDep
from app.jobs import service as svc
from app.jobs.schemas import JobErrorPublic, JobPublic
from app.pagination import Page
from app.scheduler import default_jobs

router = APIRouter(tags=["jobs"], responses=ERRORS)


def _public(status: svc.JobStatus) -> JobPublic:
    run = status.run
    error = None
    if run is not None and run.last_error_at is not None:
        error = JobErrorPublic(
            at=run.last_error_at,
            code=run.last_error_code or "error",
            type=run.last_error_type or "",
            message=run.last_error_message or "",
        )
    return JobPublic(
        name=status.name,
        every_seconds=int(status.every.total_seconds()),
        status=run.last_status if run else None,
        last_started_at=run.last_started_at if run else None,
        last_finished_at=run.last_finished_at if run else None,
        last_success_at=run.last_success_at if run else None,
        last_duration_ms=run.last_duration_ms if run else None,
        last_outcome=run.last_outcome if run else None,
        last_error=error,
        consecutive_failures=run.consecutive_failures if run else 0,
        next_attempt_at=run.next_attempt_at if run else None,
    )


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(session: SessionDep, _key: AdminKeyDep) -> Page[JobPublic]:
    """Every scheduled job with its last run, success and error, and its next attempt."""
    schedule = [(job.name, job.every) for job in default_jobs()]
    return Page(data=[_public(s) for s in svc.overview(session, schedule=schedule)])
