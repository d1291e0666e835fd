"""Settings → jobs (admins only): each scheduled job's last run, success and error, worded in
the reader's language from the counts and codes the jobs record."""

from __future__ import annotations

from typing import Any

from babel import dates
from fastapi import APIRouter
from starlette.responses import Response

from app.deps import AdminUserDep, SessionDep
from app.jobs import service as svc
from app.scheduler import default_jobs
from app.views.labels import N_
from app.views.page import Viewer, ViewerDep, show
from app.views.settings import SECTIONS

router = APIRouter(prefix="/settings")
SECTION_NAME = N_("settings:jobs")

#: Each job's name as the page shows it.
JOB_LABELS = {
    "purge-raw-events": N_("job:purge-raw-events"),
    "web-sessions": N_("job:web-sessions"),
    "score-all": N_("job:score-all"),
    "rescore-dirty": N_("job:rescore-dirty"),
    "success-plan-automation": N_("job:success-plan-automation"),
    "lifecycle": N_("job:lifecycle"),
    "renewal-forecast": N_("job:renewal-forecast"),
    "weekly-list": N_("job:weekly-list"),
    "email-outbox": N_("job:email-outbox"),
    "adoption-reports": N_("job:adoption-reports"),
}
#: The counts a job's outcome holds, as the page names them.
OUTCOME_LABELS = {
    "accounts": N_("outcome:accounts"),
    "before": N_("outcome:before"),
    "checkins": N_("outcome:checkins"),
    "claimed": N_("outcome:claimed"),
    "computed": N_("outcome:computed"),
    "day": N_("outcome:day"),
    "deleted": N_("outcome:deleted"),
    "digests": N_("outcome:digests"),
    "expired": N_("outcome:expired"),
    "failed": N_("outcome:failed"),
    "forecasts": N_("outcome:forecasts"),
    "goal_events": N_("outcome:goal_events"),
    "removed": N_("outcome:removed"),
    "reports": N_("outcome:reports"),
    "retrying": N_("outcome:retrying"),
    "samples": N_("outcome:samples"),
    "sent": N_("outcome:sent"),
    "smtp_unavailable": N_("outcome:smtp_unavailable"),
    "signals_cleared": N_("outcome:signals_cleared"),
    "signals_fired": N_("outcome:signals_fired"),
    "snapshots": N_("outcome:snapshots"),
    "stage_changes": N_("outcome:stage_changes"),
    "tasks_closed": N_("outcome:tasks_closed"),
    "tasks_created": N_("outcome:tasks_created"),
    "tasks_reopened": N_("outcome:tasks_reopened"),
    "week": N_("outcome:week"),
}
STATUS_LABELS = (N_("job-status:running"), N_("job-status:succeeded"), N_("job-status:failed"))
ERROR_LABELS = (N_("job-error:database"), N_("job-error:error"))


def outcome_items(viewer: Viewer, outcome: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An outcome's counts as (label, value) pairs in the reader's language; a count this page
    has no word for keeps its key."""
    items = []
    for key, value in (outcome or {}).items():
        label = viewer._(OUTCOME_LABELS[key]) if key in OUTCOME_LABELS else key
        shown = viewer.l10n.number(value) if isinstance(value, int) else str(value)
        items.append((label, shown))
    return items


@router.get("/jobs")
def jobs_page(user: AdminUserDep, viewer: ViewerDep, session: SessionDep) -> Response:
    """Each scheduled job's last run, success and error, failures in a row and next attempt."""
    schedule = [(job.name, job.every) for job in default_jobs()]
    rows = []
    for status in svc.overview(session, schedule=schedule):
        rows.append(
            {
                "name": status.name,
                "label": viewer._(JOB_LABELS[status.name]) if status.name in JOB_LABELS else status.name,
                "every": dates.format_timedelta(status.every, locale=viewer.l10n.locale),
                "run": status.run,
                "outcome": outcome_items(viewer, status.run.last_outcome if status.run else None),
                "unready": svc.is_failing(status.run, threshold=viewer.settings.readyz_job_failures),
            }
        )
    return show(
        viewer,
        "settings/jobs.html",
        {
            "section": "jobs",
            "sections": SECTIONS,
            "jobs": rows,
            "threshold": viewer.settings.readyz_job_failures,
        },
        block="section",
    )
