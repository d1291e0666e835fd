"""Tasks: made by playbook rules during a sync, or by hand; completed, snoozed, reassigned.

A sync takes the facts of some accounts and, for each active playbook's current rules:
- creates a task for each matching rule that has no open (or snoozed) task for the account —
  the partial unique index ``uq_task_open_rule`` makes that hold even when two syncs race, and
  the insert skips rows it would duplicate (``ON CONFLICT DO NOTHING``);
- skips a rule whose last task for the account was done or dismissed within its cooldown;
- closes the open tasks whose rule no longer matches (or left the playbook), recording which
  condition cleared.
Snoozed tasks whose date has come are reopened first. Accounts not in the facts are untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.service import get_account
from app.auth.users import require_user_by_email
from app.db import dialect_insert, table_of
from app.errors import Conflict, InvalidInput, NotFound
from app.lifecycle import playbooks as playbooks_svc
from app.models import OPEN_TASK_STATUSES, Account, Interaction, Playbook, Task, User
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor
from app.scoring.playbooks import ACTIONS, AccountFacts, Evaluation, assignee_of, evaluate

#: Who closes a task whose condition cleared (a person's or key's name otherwise).
PLAYBOOK_ACTOR = "playbook"
_CHUNK = 500


@dataclass(frozen=True)
class SyncResult:
    created: int = 0
    kept: int = 0
    closed: int = 0
    reopened: int = 0
    skipped_cooldown: int = 0
    #: Matching rules whose task a concurrent sync created first.
    skipped_race: int = 0


@dataclass(frozen=True)
class TaskView:
    task: Task
    account_external_id: str
    account_name: str
    assignee_email: str | None
    playbook_name: str | None


@dataclass(frozen=True)
class TaskFilters:
    assignee: str | None = None  # a user's email, or "none"
    owner: str | None = None  # the account owner's email
    account_id: str | None = None
    statuses: tuple[str, ...] = OPEN_TASK_STATUSES
    overdue: bool = False
    today: dt.date | None = None


@dataclass
class _Plan:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    closes: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0
    skipped: int = 0


def _today(now: dt.datetime, tz: ZoneInfo | None) -> dt.date:
    return now.astimezone(tz).date() if tz else now.date()


def _facts_dict(facts: AccountFacts) -> dict[str, Any]:
    return {"stage": facts.stage, "band": facts.band, "signals": sorted(facts.signals),
            "segment": facts.segment, "tier": facts.tier, "is_target": facts.is_target,
            "tenure_days": facts.tenure_days}


def _basis(playbook: Playbook, version: int, evaluation: Evaluation, facts: AccountFacts) -> dict[str, Any]:
    return {
        "playbook": playbook.name, "version": version, "rule": evaluation.rule.key,
        "checks": [{"condition": c.condition, "wanted": c.wanted, "actual": c.actual}
                   for c in evaluation.checks],
        "facts": _facts_dict(facts),
    }


def _close_reason(evaluation: Evaluation) -> str:
    failed = "; ".join(f"{c.condition} is {c.actual}, rule wants {c.wanted}"
                       for c in evaluation.failed)
    return f"condition cleared: {failed}"[:500]


def reopen_snoozed(session: Session, *, today: dt.date, now: dt.datetime) -> int:
    """Snoozed tasks whose date has come are open again (one statement)."""
    result = session.execute(
        update(Task).where(col(Task.status) == "snoozed", col(Task.snoozed_until) <= today)
        .values(status="open", snoozed_until=None, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def sync_playbook_tasks(
    session: Session, *, facts: Sequence[AccountFacts], now: dt.datetime, tz: ZoneInfo | None = None,
) -> SyncResult:
    """Create the tasks the playbooks call for, close those whose condition cleared (with why)."""
    today = _today(now, tz)
    reopened = reopen_snoozed(session, today=today, now=now)
    if session.exec(select(func.count()).select_from(Playbook)).one() == 0:
        playbooks_svc.ensure_default_playbook(session, now=now)
    views = playbooks_svc.list_playbooks(session, include_inactive=False)
    active_rules = [(v.playbook, v.version.version, v.rules) for v in views]
    live = {(p.id, r.key) for p, _, rules in active_rules for r in rules}
    names = {p.id: p.name for p in session.exec(select(Playbook)).all()}
    longest = max((r.cooldown_days for _, _, rules in active_rules for r in rules), default=0)
    created = kept = closed = skipped = raced = 0
    unique = list({f.account_id: f for f in facts}.values())
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        ids = [f.account_id for f in chunk]
        open_tasks = {
            (a, p, k): t for t, a, p, k in session.exec(
                select(Task.id, Task.account_id, Task.playbook_id, Task.rule_key)
                .where(col(Task.account_id).in_(ids), col(Task.status).in_(OPEN_TASK_STATUSES),
                       col(Task.rule_key).is_not(None))
            ).all()
        }
        finished = _recently_finished(session, ids, since=now - dt.timedelta(days=longest))
        plan = _Plan()
        for fact in chunk:
            for playbook, version, rules in active_rules:
                for rule in rules:
                    key = (fact.account_id, playbook.id, rule.key)
                    evaluation = evaluate(rule, fact)
                    task_id = open_tasks.pop(key, None)
                    if not evaluation.matches:
                        if task_id is not None:
                            plan.closes.append({"tid": task_id,
                                                "reason": _close_reason(evaluation)})
                        continue
                    if task_id is not None:
                        plan.kept += 1
                        continue
                    last = finished.get(key)
                    if last is not None and last > now - dt.timedelta(days=rule.cooldown_days):
                        plan.skipped += 1
                        continue
                    action = ACTIONS[rule.action]
                    plan.inserts.append({
                        "account_id": fact.account_id, "playbook_id": playbook.id,
                        "playbook_version": version, "rule_key": rule.key, "action": rule.action,
                        "title": rule.title or action.name_en, "description": action.description,
                        "due_on": today + dt.timedelta(days=rule.due_in_days),
                        "assignee_id": assignee_of(rule, fact), "status": "open",
                        "basis": _basis(playbook, version, evaluation, fact),
                        "created_by": PLAYBOOK_ACTOR, "created_at": now, "updated_at": now,
                    })
        # What is left open belongs to rules no longer in an active playbook.
        for (_, playbook_id, rule_key), task_id in open_tasks.items():
            if (playbook_id, rule_key) not in live:
                name = names.get(playbook_id, "a deleted playbook")
                plan.closes.append({"tid": task_id, "reason":
                                    f"rule {rule_key} is no longer in active playbook {name}"})
        inserted = _insert(session, plan.inserts)
        created += inserted
        raced += len(plan.inserts) - inserted
        closed += _close(session, plan.closes, now=now)
        kept += plan.kept
        skipped += plan.skipped
    return SyncResult(created=created, kept=kept, closed=closed, reopened=reopened,
                      skipped_cooldown=skipped, skipped_race=raced)


def _recently_finished(
    session: Session, account_ids: list[int], *, since: dt.datetime
) -> dict[tuple[int, int | None, str | None], dt.datetime]:
    """When each rule's last task per account was done or dismissed by a person, since a time."""
    finished_at = func.coalesce(col(Task.completed_at), col(Task.closed_at))
    rows = session.exec(
        select(Task.account_id, Task.playbook_id, Task.rule_key, func.max(finished_at))
        .where(col(Task.account_id).in_(account_ids), col(Task.rule_key).is_not(None),
               or_(col(Task.status) == "done",
                   and_(col(Task.status) == "closed", col(Task.closed_by) != PLAYBOOK_ACTOR)),
               finished_at >= since)
        .group_by(col(Task.account_id), col(Task.playbook_id), col(Task.rule_key))
    ).all()
    return {(a, p, k): at for a, p, k, at in rows if at is not None}


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the tasks, skipping any a concurrent sync inserted first; how many went in."""
    created = 0
    table = table_of(Task)
    for start in range(0, len(rows), _CHUNK):
        statement = (
            dialect_insert(session, table).values(rows[start:start + _CHUNK])
            .on_conflict_do_nothing().returning(table.c.id)
        )
        created += len(session.execute(statement).scalars().all())
    return created


def _close(session: Session, closes: list[dict[str, Any]], *, now: dt.datetime) -> int:
    """Close the tasks, each with its reason: one UPDATE sent with a parameter set per task."""
    if not closes:
        return 0
    table = table_of(Task)
    # Plain comparisons, not ``IN``: an IN list is an "expanding" parameter, which SQLAlchemy
    # refuses in a statement sent with many parameter sets (two or more tasks closing at once).
    still_open = or_(*(table.c.status == status for status in OPEN_TASK_STATUSES))
    statement = (
        update(table)
        .where(table.c.id == bindparam("tid"), still_open)
        .values(status="closed", close_reason=bindparam("reason"), closed_at=now,
                closed_by=PLAYBOOK_ACTOR, snoozed_until=None, updated_at=now)
    )
    session.execute(statement, closes)
    return len(closes)


# -- one task ----------------------------------------------------------------------------------


def _view(session: Session, task: Task) -> TaskView:
    account = session.get(Account, task.account_id)
    assert account is not None
    assignee = session.get(User, task.assignee_id) if task.assignee_id else None
    playbook = session.get(Playbook, task.playbook_id) if task.playbook_id else None
    return TaskView(task, account.external_id, account.name,
                    assignee.email if assignee else None, playbook.name if playbook else None)


def get_task(session: Session, task_id: int) -> TaskView:
    """One task; 404 if unknown or its account is deleted."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    view = _view(session, task)
    account = session.get(Account, task.account_id)
    if account is None or account.status == "deleted":
        raise NotFound(f"no task {task_id}")
    return view


def create_task(
    session: Session, *, account_id: str, title: str | None, action: str | None, due_on: dt.date,
    assignee: str | None, description: str | None, actor: str, now: dt.datetime,
) -> TaskView:
    """A task made by hand (no rule): for the account's owner unless an assignee is given."""
    account = get_account(session, account_id)
    if action is not None and action not in ACTIONS:
        raise InvalidInput.field("action", f"must be one of {', '.join(ACTIONS)}")
    if not title and action is None:
        raise InvalidInput.field("title", "give a title or an action")
    assignee_id = (require_user_by_email(session, assignee, field="assignee").id if assignee
                   else account.owner_id)
    assert account.id is not None
    task = Task(
        account_id=account.id, action=action, title=title or ACTIONS[action or ""].name_en,
        description=description if description is not None else (
            ACTIONS[action].description if action else None),
        due_on=due_on, assignee_id=assignee_id, status="open", created_by=actor,
        created_at=now, updated_at=now,
    )
    session.add(task)
    session.flush()
    return _view(session, task)


def _changeable(session: Session, task_id: int) -> Task:
    task = get_task(session, task_id).task
    if task.status not in OPEN_TASK_STATUSES:
        raise Conflict(f"task {task_id} is {task.status}; only open or snoozed tasks change")
    return task


def complete_task(
    session: Session, *, task_id: int, interaction_id: int | None, actor: str, now: dt.datetime
) -> TaskView:
    """Mark a task done, optionally linking the interaction (of the same account) that did it.

    Completing a done task again with the same interaction changes nothing (a safe retry).
    """
    task = get_task(session, task_id).task
    if task.status == "done" and task.interaction_id == interaction_id:
        return _view(session, task)
    task = _changeable(session, task_id)
    if interaction_id is not None:
        interaction = session.get(Interaction, interaction_id)
        if interaction is None or interaction.account_id != task.account_id:
            raise InvalidInput.field("interaction_id",
                                     f"no interaction {interaction_id} on this task's account")
    task.status, task.interaction_id = "done", interaction_id
    task.completed_at, task.closed_by, task.snoozed_until, task.updated_at = now, actor, None, now
    session.add(task)
    session.flush()
    return _view(session, task)


def snooze_task(
    session: Session, *, task_id: int, until: dt.date, today: dt.date, now: dt.datetime
) -> TaskView:
    """Put a task aside until a later day; it reopens on that day."""
    task = _changeable(session, task_id)
    if until <= today:
        raise InvalidInput.field("until", "must be after today")
    task.status, task.snoozed_until, task.updated_at = "snoozed", until, now
    session.add(task)
    session.flush()
    return _view(session, task)


def reassign_task(session: Session, *, task_id: int, assignee: str, now: dt.datetime) -> TaskView:
    """Give the task to another user."""
    task = _changeable(session, task_id)
    task.assignee_id = require_user_by_email(session, assignee, field="assignee").id
    task.updated_at = now
    session.add(task)
    session.flush()
    return _view(session, task)


def dismiss_task(
    session: Session, *, task_id: int, reason: str, actor: str, now: dt.datetime
) -> TaskView:
    """Close a task by hand with a reason; its rule waits out its cooldown before the next one."""
    task = _changeable(session, task_id)
    task.status, task.close_reason, task.closed_at = "closed", reason, now
    task.closed_by, task.snoozed_until, task.updated_at = actor, None, now
    session.add(task)
    session.flush()
    return _view(session, task)


# -- lists -------------------------------------------------------------------------------------


def list_tasks(
    session: Session, *, filters: TaskFilters, page: PageParams
) -> tuple[list[TaskView], str | None]:
    """One page of tasks, soonest due first."""
    assignee_user = table_of(User).alias("assignee")
    owner_user = table_of(User).alias("owner")
    query = (
        sa_select(Task, col(Account.external_id), col(Account.name), assignee_user.c.email,
                  col(Playbook.name))
        .join(Account, col(Account.id) == Task.account_id)
        .join(assignee_user, assignee_user.c.id == Task.assignee_id, isouter=True)
        .join(Playbook, col(Playbook.id) == Task.playbook_id, isouter=True)
        .where(col(Account.status) != "deleted", col(Task.status).in_(filters.statuses))
    )
    if filters.assignee == "none":
        query = query.where(col(Task.assignee_id).is_(None))
    elif filters.assignee:
        query = query.where(assignee_user.c.email == filters.assignee.strip().lower())
    if filters.owner:
        query = query.join(owner_user, owner_user.c.id == Account.owner_id).where(
            owner_user.c.email == filters.owner.strip().lower())
    if filters.account_id:
        query = query.where(col(Account.external_id) == filters.account_id)
    if filters.overdue:
        assert filters.today is not None
        query = query.where(col(Task.status) == "open", col(Task.due_on) < filters.today)
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort="due_on")
        try:
            due = dt.date.fromisoformat(str(cursor.value))
        except ValueError:
            raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None
        query = query.where(or_(col(Task.due_on) > due,
                                and_(col(Task.due_on) == due, col(Task.id) > cursor.last_id)))
    rows = session.execute(
        query.order_by(col(Task.due_on), col(Task.id)).limit(page.limit + 1)
    ).all()
    views = [TaskView(t, ext, name, email, pb) for t, ext, name, email, pb in rows]
    next_cursor = None
    if len(views) > page.limit:
        views = views[: page.limit]
        last = views[-1].task
        next_cursor = encode_cursor(Cursor("due_on", last.due_on.isoformat(), last.id or 0))
    return views, next_cursor
