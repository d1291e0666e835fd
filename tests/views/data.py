"""A small, deterministic book of business for the page tests (view and browser).

Four users (an admin, two CSMs, a viewer), five accounts with contacts, a few interactions, a
success plan with goals and steps, the ABC health model with two months of weekly scores: enough
for every panel to have something to show, built in well under a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlmodel import Session

from app.auth.security import hash_password
from app.health import models as health_models
from app.health import snapshots as health_snapshots
from app.interactions import service as interactions_svc
from app.interactions.schemas import InteractionIn
from app.models import User
from app.plans import goals as plan_goals
from app.plans import plans as success_plans
from app.plans import steps as plan_steps
from app.plans.schemas import GoalCreate, PlanCreate, StepCreate
from tests.builders import make_account, make_contact

AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TZ = ZoneInfo("Asia/Tokyo")
PASSWORD = "correct horse battery"
ADMIN = "admin@example.com"
CSM = "sato@example.com"
OTHER_CSM = "suzuki@example.com"
VIEWER = "viewer@example.com"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Book:
    plan_id: int
    goal_ids: tuple[int, int]
    step_ids: tuple[int, ...]
    contact_ids: tuple[int, ...]


def load_book(session: Session, *, now: dt.datetime = AS_OF) -> Book:
    """Create the users, accounts, interactions, plan and scores; return the ids tests need."""
    for email, name, role, locale in (
        (ADMIN, "Admin Hanako", "admin", "en"), (CSM, "Sato Kenta", "csm", "en"),
        (OTHER_CSM, "Suzuki Misaki", "csm", "ja"), (VIEWER, "Viewer Ken", "viewer", "en"),
    ):
        # One argon2 hash for the whole run: hashing costs half a second, by design.
        session.add(User(email=email, name=name, role=role, password_hash=_password_hash(),
                         locale=locale, created_at=now, updated_at=now))
    session.flush()
    today = now.astimezone(TZ).date()
    accounts = (
        ("acme", "Acme Corporation", "manufacturing", "enterprise", CSM, 500, "36000000"),
        ("globex", "Globex Retail", "retail", "mid_market", CSM, 80, "1440000"),
        ("initech", "Initech Systems", "it_services", "smb", OTHER_CSM, 12, "216000"),
        ("umbrella", "Umbrella Medical", "healthcare", "smb", None, 20, "480000"),
        ("hooli", "Hooli Finance", "finance", "enterprise", ADMIN, 300, "10800000"),
    )
    for n, (external_id, name, industry, segment, owner, seats, arr) in enumerate(accounts):
        make_account(
            session, id=external_id, name=name, industry=industry, segment=segment, owner=owner,
            licensed_seats=seats, arr=Decimal(arr), currency="JPY",
            contract_start_on=today - dt.timedelta(days=200 + 40 * n),
            renewal_on=today + dt.timedelta(days=30 + 25 * n),
        )
    contacts = [
        make_contact(session, account_id="acme", name="Yamada Taro", email="taro@acme.example",
                     title="CIO", is_champion=True),
        make_contact(session, account_id="acme", name="Ito Aya", email="aya@acme.example"),
    ]
    adapter: TypeAdapter[InteractionIn] = TypeAdapter(InteractionIn)
    for days, kind, extra in (
        (3, "meeting", {"title": "Monthly review", "body": "Discussed **rollout** to sales."}),
        (10, "support_ticket", {"title": "SSO question", "status": "closed"}),
        (20, "nps_response", {"score": 9}),
        (40, "webinar", {"name": "Getting started", "attended": True}),
    ):
        interactions_svc.create_interaction(session, interaction_in=adapter.validate_python({
            "account_id": "acme", "type": kind, "author": CSM,
            "occurred_at": now - dt.timedelta(days=days), **extra,
        }), now=now)
    interactions_svc.create_interaction(session, interaction_in=adapter.validate_python({
        "account_id": "globex", "type": "meeting_scheduled", "author": CSM, "occurred_at": now,
        "scheduled_for": now + dt.timedelta(days=5), "title": "QBR",
    }), now=now)
    plan = success_plans.create_plan(session, account_id="acme", plan_in=PlanCreate(
        title="FY27 rollout", status="active", start_on=today), actor=CSM, now=now)
    assert plan.id is not None
    goals = []
    for title, kind, target, current in (
        ("200 weekly active users", "quantitative", 200.0, 80.0),
        ("Sales team live", "qualitative", None, None),
    ):
        goal = plan_goals.create_goal(session, account_id="acme", plan_id=plan.id, goal_in=GoalCreate(
            title=title, kind=kind,  # type: ignore[arg-type]
            metric="Weekly active users" if target else None,
            target=target, baseline=0.0 if target else None, current_value=current,
            unit="users" if target else None, success_criterion=None if target else "All reps log in",
        ), actor=CSM, now=now)
        assert goal.id is not None
        goals.append(goal.id)
    steps = []
    for title in ("Invite the sales team", "Run admin training"):
        step = plan_steps.create_step(session, account_id="acme", plan_id=plan.id, goal_id=goals[1],
                                      step_in=StepCreate(title=title), actor=CSM, now=now)
        assert step.id is not None
        steps.append(step.id)
    health_models.adopt_preset(session, preset="abc", now=now)
    health_snapshots.backfill(session, since=today - dt.timedelta(days=56),
                              until=today - dt.timedelta(days=1), step_days=7, tz=TZ, now=now)
    health_snapshots.run_scoring(session, as_of=today, tz=TZ, now=now)
    return Book(plan.id, (goals[0], goals[1]), tuple(steps),
                tuple(c.id for c in contacts if c.id is not None))
