"""Liveness, readiness and the API docs page (served from vendored assets, no CDN)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from app.ops import JobsCheck, jobs_check, readiness
from app.scheduler import default_jobs
from app.views.templating import templates

router = APIRouter()

SWAGGER_UI = "vendor/swagger-ui-5.35.0"
# Swagger UI styles its widgets with inline style attributes; only this page allows them.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'self'"
)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers, its schema is at head, the ingestion applier keeps up (not
    failing, its oldest queued message younger than the lag limit: ``ingest.problem`` says which)
    and no scheduled job has failed repeatedly (``jobs.failing`` names them); 503 otherwise."""
    settings = request.app.state.settings
    state = readiness(
        request.app.state.engine, settings.database_url, now=request.app.state.clock(),
        max_ingest_lag_seconds=settings.ingest_max_lag_seconds,
    )
    jobs = _jobs(request) if state.database == "ok" else None
    ready = state.ready and (jobs is None or jobs.ready)
    lag = state.ingest
    body = {
        "status": "ok" if ready else "unavailable",
        "database": state.database,
        "schema_revision": state.schema_revision,
        "head_revision": state.head_revision,
        "ingest": None if lag is None else {
            "queued_batches": lag.batches, "queued_messages": lag.messages,
            "oldest_age_seconds": lag.oldest_age_seconds,
            "max_lag_seconds": settings.ingest_max_lag_seconds,
            "applier_failing_since": lag.failing_since and lag.failing_since.isoformat(),
            "applier_failures": lag.failures, "applier_error": lag.error,
            "set_aside": lag.set_aside, "problem": lag.problem,
        },
        "jobs": None if jobs is None else _jobs_body(jobs),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def _jobs(request: Request) -> JobsCheck:
    """The scheduled jobs' check, with this app's threshold."""
    return jobs_check(
        request.app.state.engine, names=[job.name for job in default_jobs()],
        threshold=request.app.state.settings.readyz_job_failures,
    )


def _jobs_body(check: JobsCheck) -> dict[str, Any]:
    return {
        "failing": [
            {"name": j.name, "consecutive_failures": j.consecutive_failures,
             "last_error_code": j.last_error_code,
             "last_error_at": j.last_error_at.isoformat() if j.last_error_at else None}
            for j in check.failing
        ],
        **({"error": check.error} if check.error else {}),
    }


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Interactive API documentation."""
    response = templates.TemplateResponse(
        request, "docs/swagger.html",
        {"openapi_url": request.app.openapi_url, "swagger": SWAGGER_UI},
    )
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
