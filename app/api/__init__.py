"""The JSON API (``/api/v1``): thin routers that parse, call a service and serialise."""

from fastapi import APIRouter

from app.api import (
    account_history,
    account_usage,
    accounts,
    adoption,
    api_keys,
    contacts,
    features,
    health,
    imports,
    industries,
    interactions,
    jobs,
    opportunities,
    plans,
    playbooks,
    priorities,
    reports,
    sources,
    stages,
    tasks,
    usage,
    users,
)

router = APIRouter(prefix="/api/v1")
router.include_router(accounts.router)
router.include_router(contacts.router)
router.include_router(users.router)
router.include_router(api_keys.router)
router.include_router(sources.router)
router.include_router(account_usage.router)
router.include_router(features.router)
router.include_router(health.router)
router.include_router(interactions.router)
router.include_router(usage.router)
router.include_router(imports.router)
router.include_router(plans.router)
router.include_router(stages.router)
router.include_router(priorities.router)
router.include_router(account_history.router)
router.include_router(industries.router)
router.include_router(playbooks.router)
router.include_router(tasks.router)
router.include_router(adoption.router)
router.include_router(reports.router)
router.include_router(opportunities.router)
router.include_router(jobs.router)
