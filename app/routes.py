"""Every router of the app, in one list, in the order requests are matched against them.

Routes are matched first to last, so the order matters: a specific route must come before a
catch-all that would also match it (``/settings/{section}`` after every other settings page),
and the hottest paths come first (ops, then ``/v1/batch``).

Two kinds of router, each included the same way everywhere:

- ``Api``: the JSON API, in the OpenAPI document, under ``/api/v1`` (the Segment-compatible
  ``/v1`` endpoints keep their own paths).
- ``Page``: server-rendered pages, never in the OpenAPI document; each state-changing request on
  them must carry the CSRF token, unless the page has no session to protect (``csrf=False``: the
  health checks, a customer's check-in answer, the read-only analytics page).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, FastAPI

from app.api import account_history as account_history_api
from app.api import account_usage as account_usage_api
from app.api import accounts as accounts_api
from app.api import adoption as adoption_api
from app.api import analytics as analytics_api
from app.api import api_keys as api_keys_api
from app.api import contacts as contacts_api
from app.api import features as features_api
from app.api import health as health_api
from app.api import imports as imports_api
from app.api import industries as industries_api
from app.api import interactions as interactions_api
from app.api import jobs as jobs_api
from app.api import kpis as kpis_api
from app.api import opportunities as opportunities_api
from app.api import plans as plans_api
from app.api import playbooks as playbooks_api
from app.api import priorities as priorities_api
from app.api import renewal_forecasts as renewal_forecasts_api
from app.api import reports as reports_api
from app.api import segment as segment_api
from app.api import sources as sources_api
from app.api import stages as stages_api
from app.api import tasks as tasks_api
from app.api import usage as usage_api
from app.api import users as users_api
from app.views import account_lifecycle as account_lifecycle_pages
from app.views import account_send as account_send_pages
from app.views import accounts as accounts_pages
from app.views import analytics as analytics_pages
from app.views import auth as auth_pages
from app.views import kpis as kpis_pages
from app.views import ops as ops_pages
from app.views import outbox as outbox_pages
from app.views import pipeline as pipeline_pages
from app.views import plans as plans_pages
from app.views import portfolio as portfolio_pages
from app.views import reports as reports_pages
from app.views import settings as settings_pages
from app.views import settings_health as settings_health_pages
from app.views import settings_jobs as settings_jobs_pages
from app.views import settings_rules as settings_rules_pages
from app.views import week as week_pages
from app.views.page import verify_csrf

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Api:
    router: APIRouter
    prefix: str = API_PREFIX


@dataclass(frozen=True)
class Page:
    router: APIRouter
    csrf: bool = True


ROUTERS: tuple[Api | Page, ...] = (
    Page(ops_pages.router, csrf=False),
    # First after ops: /v1/batch is the hottest path by far.
    Api(segment_api.router, prefix=""),
    Page(auth_pages.router),
    Page(portfolio_pages.router),
    Page(account_lifecycle_pages.router),  # the task buttons of the stage and signals panel
    Page(accounts_pages.router),
    Page(plans_pages.router),
    # Every settings page before settings_pages: its /settings/{section} is a catch-all.
    Page(settings_jobs_pages.router),
    Page(settings_rules_pages.router),
    Page(settings_health_pages.router),
    Page(settings_pages.router),
    Page(week_pages.router),
    Page(outbox_pages.router),
    Page(reports_pages.router),
    Page(pipeline_pages.router),
    Page(account_send_pages.router),
    Page(reports_pages.answers_router, csrf=False),
    Api(accounts_api.router),
    Api(contacts_api.router),
    Api(users_api.router),
    Api(api_keys_api.router),
    Api(sources_api.router),
    Api(account_usage_api.router),
    Api(features_api.router),
    Api(health_api.router),
    Api(renewal_forecasts_api.router),
    Api(interactions_api.router),
    Api(usage_api.router),
    Api(imports_api.router),
    Api(plans_api.router),
    Api(stages_api.router),
    Api(priorities_api.router),
    Api(account_history_api.router),
    Api(industries_api.router),
    Api(playbooks_api.router),
    Api(tasks_api.router),
    Api(adoption_api.router),
    Api(reports_api.router),
    Api(opportunities_api.router),
    Api(jobs_api.router),
    Api(analytics_api.router),
    Page(analytics_pages.router, csrf=False),
    Api(kpis_api.router),
    Page(kpis_pages.router),
)


def include_routers(app: FastAPI) -> None:
    """Include every router of ``ROUTERS`` in ``app``, in order."""
    for entry in ROUTERS:
        if isinstance(entry, Page):
            dependencies = [Depends(verify_csrf)] if entry.csrf else None
            app.include_router(entry.router, include_in_schema=False, dependencies=dependencies)
        else:
            app.include_router(entry.router, prefix=entry.prefix)
