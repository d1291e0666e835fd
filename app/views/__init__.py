"""Server-rendered pages. One Jinja2 environment for the whole app lives in ``templating``.

``router`` holds every page; each state-changing request on it must carry the CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.views import (
    accounts,
    auth,
    plans,
    portfolio,
    settings,
    settings_health,
    settings_jobs,
    settings_rules,
    week,
)
from app.views import outbox as outbox_views
from app.views import pipeline as pipeline_views
from app.views import reports as report_views
from app.views.page import verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
router.include_router(auth.router)
router.include_router(portfolio.router)
router.include_router(accounts.router)
router.include_router(plans.router)
router.include_router(settings_jobs.router)  # before settings, as the next
router.include_router(settings_rules.router)  # before settings: its /settings/{section} is a catch-all
router.include_router(settings_health.router)  # before settings, as the previous
router.include_router(settings.router)
router.include_router(week.router)
router.include_router(outbox_views.router)
router.include_router(report_views.router)
router.include_router(pipeline_views.router)
