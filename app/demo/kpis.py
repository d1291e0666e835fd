"""Demo data the team KPIs read and the rest of the demo does not make: a year of monthly tips
emails and their clicks, tech-touch check-ins with their answers, tasks done (mostly on time) and
weekly lists from past Mondays with the CSMs' verdicts.

Click rates differ by segment, so the KPI filters show different numbers: enterprise accounts
click more than SMB ones.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.db import table_of
from app.models import Account, Checkin, Interaction, PriorityItem, Task
from app.priorities import service as priorities

#: Per segment, the chance an account clicks a link in a month's tips email.
CLICK_RATES = {"enterprise": 0.45, "mid_market": 0.32, "smb": 0.2}
#: How many past weekly lists get verdicts (each costs a full assessment, about 0.4 s on the
#: demo), and how far down each CSM's list they reach.
PAST_WEEKS = 8
VERDICT_RANKS = 12
#: A task is done on time with this chance; late by a few days otherwise (or dismissed).
ON_TIME = 0.72
_REASONS = ("talked_offline", "no_churn_risk", "waiting_on_customer")
_TASKS = ("フォローアップの電話", "活用状況の確認", "管理者向けトレーニングの提案", "更新前ヒアリング")


def _at(day: dt.date, hour: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)


def _month_starts(today: dt.date, months: int) -> list[dt.date]:
    out, year, month = [], today.year, today.month
    for _ in range(months):
        out.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def load_demo_kpis(session: Session, *, rng: random.Random, now: dt.datetime, tz: ZoneInfo) -> int:
    """Write the KPI inputs above for the demo accounts; returns how many rows were written."""
    today = now.astimezone(tz).date()
    accounts = list(
        session.exec(select(Account).where(col(Account.status) != "deleted").order_by(col(Account.id))).all()
    )
    written = _clicks(session, rng, accounts, today, tz)
    written += _checkins(session, rng, accounts, today, tz)
    written += _tasks(session, rng, accounts, today, tz)
    written += _verdicts(session, rng, today, now, tz)
    return written


def _alive(account: Account, day: dt.date) -> bool:
    started = account.contract_start_on is None or account.contract_start_on <= day
    return started and (account.churned_on is None or account.churned_on > day)


def _clicks(
    session: Session, rng: random.Random, accounts: list[Account], today: dt.date, tz: ZoneInfo
) -> int:
    rows: list[dict[str, Any]] = []
    for first in _month_starts(today, 12):
        sent = first + dt.timedelta(days=9)  # the tips email goes out on the 10th
        if sent > today:
            continue
        for a in accounts:
            if not _alive(a, sent) or rng.random() >= CLICK_RATES.get(a.segment or "", 0.25):
                continue
            day = min(sent + dt.timedelta(days=rng.randint(0, 6)), today)
            at = _at(day, rng.randint(9, 18), tz)
            rows.append(
                {
                    "account_id": a.id,
                    "type": "email_click",
                    "occurred_at": at,
                    "author": "demo",
                    "created_at": at,
                    "data": {"campaign": f"tips-{first:%Y-%m}", "url": "https://help.example.jp/tips"},
                }
            )
    if rows:
        session.execute(insert(table_of(Interaction)), rows)
    return len(rows)


def _checkins(
    session: Session, rng: random.Random, accounts: list[Account], today: dt.date, tz: ZoneInfo
) -> int:
    asked = set(session.exec(select(Checkin.account_id)).all())
    written = 0
    for a in accounts:
        start = a.contract_start_on
        if a.id is None or a.id in asked or start is None:
            continue
        sent_on = start + dt.timedelta(days=30)
        if not today - dt.timedelta(days=365) <= sent_on <= today or not _alive(a, sent_on):
            continue
        checkin = Checkin(account_id=a.id, sent_at=_at(sent_on, 10, tz), language="ja")
        session.add(checkin)
        written += 1
        answer_on = sent_on + dt.timedelta(days=rng.randint(0, 4))
        if rng.random() < 0.55 and answer_on <= today:
            answer = rng.choices(("done", "on_track", "problem"), (3, 5, 2))[0]
            session.flush()
            at = _at(answer_on, rng.randint(9, 18), tz)
            reply = Interaction(
                account_id=a.id,
                type="email_reply",
                occurred_at=at,
                author="demo",
                title=f"Check-in answer: {answer}",
                created_at=at,
                data={"checkin": checkin.id, "answer": answer},
            )
            session.add(reply)
            session.flush()
            checkin.answer, checkin.answered_at, checkin.interaction_id = answer, at, reply.id
            written += 1
    session.flush()
    return written


def _tasks(
    session: Session,
    rng: random.Random,
    accounts: list[Account],
    today: dt.date,
    tz: ZoneInfo,
) -> int:
    """About two tasks a month per owned account over the past year, finished (mostly on time)
    or dismissed, so none of them lingers on anyone's open list."""
    rows: list[dict[str, Any]] = []
    for a in accounts:
        if a.owner_id is None:
            continue
        for first in _month_starts(today, 12):
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                due = first + dt.timedelta(days=rng.randint(0, 27))
                if due >= today or not _alive(a, due):
                    continue
                created = _at(due - dt.timedelta(days=rng.randint(3, 14)), 9, tz)
                roll = rng.random()
                if roll < 0.05:
                    status, done_on = "closed", None
                else:
                    late = roll >= ON_TIME
                    done_on = due + dt.timedelta(days=rng.randint(1, 6) if late else -rng.randint(0, 3))
                    status, done_on = "done", min(done_on, today)
                finished = _at(done_on, 17, tz) if done_on else _at(due, 17, tz)
                rows.append(
                    {
                        "account_id": a.id,
                        "title": rng.choice(_TASKS),
                        "due_on": due,
                        "assignee_id": a.owner_id,
                        "status": status,
                        "created_by": "demo",
                        "completed_at": finished if status == "done" else None,
                        "closed_at": finished if status == "closed" else None,
                        "closed_by": "demo",
                        "close_reason": "不要になった" if status == "closed" else None,
                        "basis": {},
                        "created_at": created,
                        "updated_at": finished,
                    }
                )
    if rows:
        session.execute(insert(table_of(Task)), rows)
    return len(rows)


def _verdicts(session: Session, rng: random.Random, today: dt.date, now: dt.datetime, tz: ZoneInfo) -> int:
    """Past Mondays' lists, computed as of their Monday, with verdicts on each CSM's top items."""
    written = 0
    monday = today - dt.timedelta(days=today.weekday())
    for weeks_ago in range(PAST_WEEKS, 0, -1):
        day = monday - dt.timedelta(weeks=weeks_ago)
        week = priorities.week_of(day)
        stored = priorities.weekly_list(session, week=week, tz=tz, now=now, author="demo")
        items = session.exec(
            select(PriorityItem).where(
                PriorityItem.list_id == stored.id,
                col(PriorityItem.rank).is_not(None),
                col(PriorityItem.rank) <= VERDICT_RANKS,
            )
        ).all()
        for item in items:
            roll = rng.random()
            if roll < 0.1:
                continue  # nobody got to it
            at = _at(day + dt.timedelta(days=rng.randint(0, 4)), 18, tz)
            if roll < 0.75:
                item.status = "done"
            else:
                item.status, item.reason = "not_actionable", rng.choice(_REASONS)
            item.feedback_at, item.feedback_by = at, "demo"
            session.add(item)
            written += 1
    session.flush()
    return written
