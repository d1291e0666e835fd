"""Success plans, their goals and steps, under an account; goals across accounts; templates.

Every single resource comes with an ``ETag``; PATCH and DELETE require it back in ``If-Match``
(428 without, 412 with the current resource when it is stale).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND, api_path
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep, WriteKeyDep
from app.pagination import Page, PageParams, page_params
from app.plans import from_template
from app.plans import goals as plan_goals
from app.plans import plans as success_plans
from app.plans import records as plan_records
from app.plans import steps as plan_steps
from app.plans.schemas import (
    AuditEntry,
    FromTemplate,
    GoalCreate,
    GoalPublic,
    GoalStatus,
    GoalUpdate,
    GoalVerify,
    PlanCreate,
    PlanDetail,
    PlanPublic,
    PlanUpdate,
    ProgressPoint,
    StepCreate,
    StepPublic,
    StepUpdate,
    TemplateGoal,
    TemplatePublic,
    TemplateStep,
)
from app.plans.templates import PlanTemplate
from app.types import DbId

router = APIRouter(tags=["success plans"], responses=ERRORS)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "Stale If-Match; the body holds `current` and its `etag`", **_PROBLEM},
    428: {"description": "If-Match is required", **_PROBLEM},
}
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The ETag you read, e.g. `"plan-1-v3"`')]
PLANS = "/accounts/{account_id}/success-plans"
PLAN = PLANS + "/{plan_id}"
GOALS = PLAN + "/goals"
GOAL = GOALS + "/{goal_id}"
STEPS = GOAL + "/steps"
STEP = STEPS + "/{step_id}"


def _tagged(response: Response, row: plan_records.Versioned) -> None:
    response.headers["ETag"] = plan_records.etag(row)


# -- plans -------------------------------------------------------------------------------------


@router.get(PLANS, response_model=list[PlanPublic], responses=NOT_FOUND)
def list_plans(account_id: str, session: SessionDep, _key: ReadKeyDep) -> list[PlanPublic]:
    """The account's success plans, newest first."""
    return [
        PlanPublic.model_validate(plan_records.plan_view(session, p))
        for p in success_plans.list_plans(session, account_id=account_id)
    ]


@router.post(
    PLANS,
    status_code=status.HTTP_201_CREATED,
    response_model=PlanPublic,
    responses={**NOT_FOUND, **CONFLICT, **BODY},
)
def create_plan(
    account_id: str,
    plan_in: PlanCreate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
) -> PlanPublic:
    """Create a success plan; 409 if it would be the account's second active plan."""
    plan = success_plans.create_plan(session, account_id=account_id, plan_in=plan_in, actor=key.name, now=now)
    _tagged(response, plan)
    response.headers["Location"] = api_path("accounts", account_id, "success-plans", plan.id)
    return PlanPublic.model_validate(plan_records.plan_view(session, plan))


@router.post(
    PLANS + "/from-template",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanDetail,
    responses={**NOT_FOUND, **BODY},
)
def create_plan_from_template(
    account_id: str,
    body: FromTemplate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    key: WriteKeyDep,
    response: Response,
) -> PlanDetail:
    """Start a plan from a template: its goals and steps, tracked goals' baselines from today."""
    plan = from_template.create_plan_from_template(
        session,
        account_id=account_id,
        template=body.template,
        title=body.title,
        start_on=body.start_on,
        today=today,
        actor=key.name,
        now=now,
    )
    _tagged(response, plan)
    response.headers["Location"] = api_path("accounts", account_id, "success-plans", plan.id)
    return PlanDetail.model_validate(success_plans.plan_detail(session, plan))


@router.get(PLAN, response_model=PlanDetail, responses=NOT_FOUND)
def get_plan(
    account_id: str, plan_id: DbId, session: SessionDep, _key: ReadKeyDep, response: Response
) -> PlanDetail:
    """One plan with its goals and their steps; the ETag covers the plan's own fields."""
    plan = success_plans.get_plan(session, account_id=account_id, plan_id=plan_id)
    _tagged(response, plan)
    return PlanDetail.model_validate(success_plans.plan_detail(session, plan))


@router.patch(PLAN, response_model=PlanPublic, responses={**NOT_FOUND, **CONFLICT, **BODY, **PRECONDITION})
def update_plan(
    account_id: str,
    plan_id: DbId,
    plan_in: PlanUpdate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
    if_match: IfMatch = None,
) -> PlanPublic:
    """Change some fields of a plan (If-Match required)."""
    plan = success_plans.update_plan(
        session,
        account_id=account_id,
        plan_id=plan_id,
        changes=plan_in.model_dump(exclude_unset=True),
        expected_version=plan_records.expected_version(if_match, kind="plan", id=plan_id),
        actor=key.name,
        now=now,
    )
    _tagged(response, plan)
    return PlanPublic.model_validate(plan_records.plan_view(session, plan))


@router.delete(PLAN, status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **PRECONDITION})
def delete_plan(
    account_id: str,
    plan_id: DbId,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    if_match: IfMatch = None,
) -> None:
    """Delete a plan with its goals and steps (If-Match required); its history stays."""
    success_plans.delete_plan(
        session,
        account_id=account_id,
        plan_id=plan_id,
        expected_version=plan_records.expected_version(if_match, kind="plan", id=plan_id),
        actor=key.name,
        now=now,
    )


@router.get(PLAN + "/history", response_model=Page[AuditEntry], responses=NOT_FOUND)
def plan_history(
    account_id: str,
    plan_id: DbId,
    session: SessionDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[AuditEntry]:
    """Every change to the plan, its goals and steps: who, when, before → after; oldest first."""
    rows, next_cursor = success_plans.plan_history(session, account_id=account_id, plan_id=plan_id, page=page)
    return Page(
        data=[AuditEntry.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor
    )


# -- goals -------------------------------------------------------------------------------------


@router.get(GOALS, response_model=list[GoalPublic], responses=NOT_FOUND)
def list_goals(account_id: str, plan_id: DbId, session: SessionDep, _key: ReadKeyDep) -> list[GoalPublic]:
    """The plan's goals in order."""
    return [
        GoalPublic.model_validate(plan_records.goal_view(session, g))
        for g in plan_goals.list_goals(session, account_id=account_id, plan_id=plan_id)
    ]


@router.post(
    GOALS, status_code=status.HTTP_201_CREATED, response_model=GoalPublic, responses={**NOT_FOUND, **BODY}
)
def create_goal(
    account_id: str,
    plan_id: DbId,
    goal_in: GoalCreate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
) -> GoalPublic:
    """Add a goal; 422 naming any field that does not fit the goal's kind."""
    goal = plan_goals.create_goal(
        session, account_id=account_id, plan_id=plan_id, goal_in=goal_in, actor=key.name, now=now
    )
    _tagged(response, goal)
    response.headers["Location"] = api_path(
        "accounts", account_id, "success-plans", plan_id, "goals", goal.id
    )
    return GoalPublic.model_validate(plan_records.goal_view(session, goal))


@router.get(GOAL, response_model=GoalPublic, responses=NOT_FOUND)
def get_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    session: SessionDep,
    _key: ReadKeyDep,
    response: Response,
) -> GoalPublic:
    """One goal."""
    goal = plan_goals.get_goal(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    _tagged(response, goal)
    return GoalPublic.model_validate(plan_records.goal_view(session, goal))


@router.patch(GOAL, response_model=GoalPublic, responses={**NOT_FOUND, **BODY, **PRECONDITION})
def update_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    goal_in: GoalUpdate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
    if_match: IfMatch = None,
) -> GoalPublic:
    """Change some fields of a goal (If-Match required)."""
    goal = plan_goals.update_goal(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        changes=goal_in.model_dump(exclude_unset=True),
        expected_version=plan_records.expected_version(if_match, kind="goal", id=goal_id),
        actor=key.name,
        now=now,
    )
    _tagged(response, goal)
    return GoalPublic.model_validate(plan_records.goal_view(session, goal))


@router.post(GOAL + "/verify", response_model=GoalPublic, responses={**NOT_FOUND, **BODY, **PRECONDITION})
def verify_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
    body: GoalVerify | None = None,
    if_match: IfMatch = None,
) -> GoalPublic:
    """Record that the goal was re-validated with the customer now (If-Match checked if sent)."""
    goal = plan_goals.verify_goal(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        status=body.status if body else None,
        expected_version=plan_records.expected_version(if_match, kind="goal", id=goal_id),
        actor=key.name,
        now=now,
    )
    _tagged(response, goal)
    return GoalPublic.model_validate(plan_records.goal_view(session, goal))


@router.delete(GOAL, status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **PRECONDITION})
def delete_goal(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    if_match: IfMatch = None,
) -> None:
    """Delete a goal with its steps (If-Match required)."""
    plan_goals.delete_goal(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        expected_version=plan_records.expected_version(if_match, kind="goal", id=goal_id),
        actor=key.name,
        now=now,
    )


@router.get(GOAL + "/progress", response_model=list[ProgressPoint], responses=NOT_FOUND)
def goal_progress(
    account_id: str, plan_id: DbId, goal_id: DbId, session: SessionDep, _key: ReadKeyDep
) -> list[ProgressPoint]:
    """A tracked goal's daily values (its interim metric), oldest first."""
    return [
        ProgressPoint(day=p.day, value=p.value)
        for p in plan_goals.goal_progress(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    ]


# -- steps -------------------------------------------------------------------------------------


@router.get(STEPS, response_model=list[StepPublic], responses=NOT_FOUND)
def list_steps(
    account_id: str, plan_id: DbId, goal_id: DbId, session: SessionDep, _key: ReadKeyDep
) -> list[StepPublic]:
    """The goal's steps in order."""
    return [
        StepPublic.model_validate(plan_records.step_view(session, s))
        for s in plan_steps.list_steps(session, account_id=account_id, plan_id=plan_id, goal_id=goal_id)
    ]


@router.post(
    STEPS, status_code=status.HTTP_201_CREATED, response_model=StepPublic, responses={**NOT_FOUND, **BODY}
)
def create_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    step_in: StepCreate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
) -> StepPublic:
    """Add a step (milestone) to a goal."""
    step = plan_steps.create_step(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        step_in=step_in,
        actor=key.name,
        now=now,
    )
    _tagged(response, step)
    return StepPublic.model_validate(plan_records.step_view(session, step))


@router.get(STEP, response_model=StepPublic, responses=NOT_FOUND)
def get_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    step_id: DbId,
    session: SessionDep,
    _key: ReadKeyDep,
    response: Response,
) -> StepPublic:
    """One step."""
    step = plan_steps.get_step(
        session, account_id=account_id, plan_id=plan_id, goal_id=goal_id, step_id=step_id
    )
    _tagged(response, step)
    return StepPublic.model_validate(plan_records.step_view(session, step))


@router.patch(STEP, response_model=StepPublic, responses={**NOT_FOUND, **BODY, **PRECONDITION})
def update_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    step_id: DbId,
    step_in: StepUpdate,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    response: Response,
    if_match: IfMatch = None,
) -> StepPublic:
    """Change some fields of a step, e.g. mark it done (If-Match required)."""
    step = plan_steps.update_step(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        step_id=step_id,
        changes=step_in.model_dump(exclude_unset=True),
        expected_version=plan_records.expected_version(if_match, kind="step", id=step_id),
        actor=key.name,
        now=now,
    )
    _tagged(response, step)
    return StepPublic.model_validate(plan_records.step_view(session, step))


@router.delete(STEP, status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **PRECONDITION})
def delete_step(
    account_id: str,
    plan_id: DbId,
    goal_id: DbId,
    step_id: DbId,
    session: SessionDep,
    now: NowDep,
    key: WriteKeyDep,
    if_match: IfMatch = None,
) -> None:
    """Delete a step (If-Match required)."""
    plan_steps.delete_step(
        session,
        account_id=account_id,
        plan_id=plan_id,
        goal_id=goal_id,
        step_id=step_id,
        expected_version=plan_records.expected_version(if_match, kind="step", id=step_id),
        actor=key.name,
        now=now,
    )


# -- across accounts ---------------------------------------------------------------------------


@router.get("/goals", response_model=Page[GoalPublic])
def search_goals(
    session: SessionDep,
    now: NowDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: GoalStatus | None = None,
    owner: Annotated[str | None, Query(description="Plan owner's email, or `none`")] = None,
    account_id: Annotated[str | None, Query(description="One account's goals")] = None,
    unverified_days: Annotated[
        int | None,
        Query(ge=1, le=3650, description="Open goals not verified for more than this many days"),
    ] = None,
) -> Page[GoalPublic]:
    """Goals across accounts, filtered (e.g. `status=at_risk`, `unverified_days=90`)."""
    filters = plan_goals.GoalFilters(
        status=status, owner=owner, account_id=account_id, unverified_days=unverified_days
    )
    rows, next_cursor = plan_goals.search_goals(session, filters=filters, page=page, now=now)
    return Page(
        data=[GoalPublic.model_validate(plan_records.goal_view(session, g)) for g in rows],
        next_cursor=next_cursor,
    )


def _template_public(t: PlanTemplate) -> TemplatePublic:
    return TemplatePublic(
        key=t.key,
        name=t.name,
        segment=t.segment,
        objective=t.objective,
        duration_days=t.duration_days,
        goals=[
            TemplateGoal(
                title=g.title,
                kind=g.kind,
                priority=g.priority,
                due_in_days=g.due_in_days,
                metric=g.metric,
                unit=g.unit,
                metric_source=g.metric_source,
                target=g.target,
                target_per_seat=g.target_per_seat,
                success_criterion=g.success_criterion,
                steps=[
                    TemplateStep(title=s.title, due_in_days=s.due_in_days, owner=s.owner) for s in g.steps
                ],
            )
            for g in t.goals
        ],
    )


@router.get("/plan-templates", response_model=list[TemplatePublic])
def list_plan_templates(_key: ReadKeyDep) -> list[TemplatePublic]:
    """The plan templates per segment, to start a plan in one call."""
    return [_template_public(t) for t in from_template.list_templates()]
