"""Tasks: what CSMs should do, by when; from playbooks or made by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.common import BODY, CONFLICT, ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep, WriteKeyDep
from app.errors import InvalidInput
from app.lifecycle import tasks as svc
from app.lifecycle.schemas import (
    TaskComplete,
    TaskCreate,
    TaskDismiss,
    TaskPlaybook,
    TaskPublic,
    TaskReassign,
    TaskSnooze,
)
from app.models import TASK_STATUSES
from app.pagination import Page, PageParams, page_params
from app.types import DbId
from app.validation import NO_TAGS, route_class

router = APIRouter(tags=["tasks"], responses=ERRORS, route_class=route_class(NO_TAGS))


def task_public(view: svc.TaskView) -> TaskPublic:
    t = view.task
    playbook = None
    if t.rule_key is not None or t.playbook_id is not None:
        playbook = TaskPlaybook(
            id=t.playbook_id, name=view.playbook_name, version=t.playbook_version, rule_key=t.rule_key
        )
    return TaskPublic(
        id=t.id or 0,
        account_id=view.account_external_id,
        account_name=view.account_name,
        title=t.title,
        action=t.action,
        description=t.description,
        due_on=t.due_on,
        assignee=view.assignee_email,
        status=t.status,
        snoozed_until=t.snoozed_until,
        completed_at=t.completed_at,
        interaction_id=t.interaction_id,
        closed_at=t.closed_at,
        close_reason=t.close_reason,
        closed_by=t.closed_by,
        playbook=playbook,
        basis=t.basis,
        created_by=t.created_by,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _statuses(raw: list[str] | None) -> tuple[str, ...]:
    if not raw:
        return ("open", "snoozed")
    values = tuple(v.strip() for part in raw for v in part.split(",") if v.strip())
    if values == ("all",):
        return TASK_STATUSES
    unknown = [v for v in values if v not in TASK_STATUSES]
    if unknown:
        raise InvalidInput.field("status", f"must be among {', '.join(TASK_STATUSES)} or all", "query")
    return values


@router.get("/tasks", response_model=Page[TaskPublic])
def list_tasks(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    assignee: Annotated[str | None, Query(description="A user's email (mine), or `none`")] = None,
    owner: Annotated[str | None, Query(description="The account owner's email")] = None,
    account_id: Annotated[str | None, Query(description="Only this account's tasks")] = None,
    status_: Annotated[
        list[str] | None,
        Query(
            alias="status",
            description="open, snoozed, done, closed (repeat or comma list), or all; "
            "default open and snoozed",
        ),
    ] = None,
    overdue: Annotated[bool, Query(description="Only open tasks due before today")] = False,
) -> Page[TaskPublic]:
    """Tasks, soonest due first."""
    filters = svc.TaskFilters(
        assignee=assignee,
        owner=owner,
        account_id=account_id,
        statuses=_statuses(status_),
        overdue=overdue,
        today=today,
    )
    views, next_cursor = svc.list_tasks(session, filters=filters, page=page)
    return Page(data=[task_public(v) for v in views], next_cursor=next_cursor)


@router.post(
    "/tasks", status_code=status.HTTP_201_CREATED, response_model=TaskPublic, responses={**NOT_FOUND, **BODY}
)
def create_task(
    task_in: TaskCreate, session: SessionDep, now: NowDep, key: WriteKeyDep, response: Response
) -> TaskPublic:
    """Create a task by hand; it goes to the account's owner unless an assignee is given."""
    view = svc.create_task(
        session,
        account_id=task_in.account_id,
        title=task_in.title,
        action=task_in.action,
        due_on=task_in.due_on,
        assignee=task_in.assignee,
        description=task_in.description,
        actor=key.name,
        now=now,
    )
    response.headers["Location"] = f"/api/v1/tasks/{view.task.id}"
    return task_public(view)


@router.get("/tasks/{task_id}", response_model=TaskPublic, responses=NOT_FOUND)
def get_task(task_id: DbId, session: SessionDep, _key: ReadKeyDep) -> TaskPublic:
    """One task, with why it was made (``basis``) and, when closed, why."""
    return task_public(svc.get_task(session, task_id))


_CHANGE = {**NOT_FOUND, **CONFLICT, **BODY}


@router.post("/tasks/{task_id}/complete", response_model=TaskPublic, responses=_CHANGE)
def complete_task(
    task_id: DbId, complete_in: TaskComplete, session: SessionDep, now: NowDep, key: WriteKeyDep
) -> TaskPublic:
    """Mark the task done, optionally with the interaction that did it (same account)."""
    return task_public(
        svc.complete_task(
            session, task_id=task_id, interaction_id=complete_in.interaction_id, actor=key.name, now=now
        )
    )


@router.post("/tasks/{task_id}/snooze", response_model=TaskPublic, responses=_CHANGE)
def snooze_task(
    task_id: DbId,
    snooze_in: TaskSnooze,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: WriteKeyDep,
) -> TaskPublic:
    """Put the task aside until a later day (it reopens then)."""
    return task_public(svc.snooze_task(session, task_id=task_id, until=snooze_in.until, today=today, now=now))


@router.post("/tasks/{task_id}/reassign", response_model=TaskPublic, responses=_CHANGE)
def reassign_task(
    task_id: DbId, reassign_in: TaskReassign, session: SessionDep, now: NowDep, _key: WriteKeyDep
) -> TaskPublic:
    """Give the task to another user."""
    return task_public(svc.reassign_task(session, task_id=task_id, assignee=reassign_in.assignee, now=now))


@router.post("/tasks/{task_id}/dismiss", response_model=TaskPublic, responses=_CHANGE)
def dismiss_task(
    task_id: DbId, dismiss_in: TaskDismiss, session: SessionDep, now: NowDep, key: WriteKeyDep
) -> TaskPublic:
    """Close the task by hand with a reason (its rule then waits out its cooldown)."""
    return task_public(
        svc.dismiss_task(session, task_id=task_id, reason=dismiss_in.reason, actor=key.name, now=now)
    )
