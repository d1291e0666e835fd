"""Lifecycle data on top of the small book (``tests.views.data``), for the page and browser tests:
Acme in Rescue since 2 November with a "no meeting" signal and two open tasks (one two days
overdue), Globex in Growth since today, and manufacturing (Acme's industry) set to tier 1 by hand.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from app.accounts import industries as industries_svc
from app.lifecycle import tasks as tasks_svc
from app.models import Account, AccountSignal, AccountStage
from tests.views.data import AS_OF, CSM, TZ

TODAY = AS_OF.astimezone(TZ).date()


def load_lifecycle(session: Session) -> dict[str, int]:
    """Add the stages, signal, override and tasks; return the ids of the tasks ("late", "soon")
    and of Acme ("acme")."""
    ids = {a.external_id: a.id for a in session.exec(select(Account)).all()}
    session.add(
        AccountStage(
            account_id=ids["acme"],
            stage="rescue",
            since_on=dt.date(2026, 11, 2),
            computed_on=TODAY,
            detail={
                "indicators": [
                    {"key": "star_user", "met": True, "value": 14, "threshold": 12, "source": "usage"},
                    {"key": "champion", "met": False, "value": 2, "threshold": 4, "source": "csm"},
                    {"key": "community", "met": False, "value": 0, "threshold": 1, "source": "attendance"},
                ]
            },
        )
    )
    session.add(
        AccountStage(account_id=ids["globex"], stage="growth", since_on=TODAY, computed_on=TODAY, detail={})
    )
    facts = {"last_meeting_on": "2026-08-20", "days": 95, "limit": 90}
    session.add(
        AccountSignal(
            account_id=ids["acme"],
            kind="no_meeting",
            severity="medium",
            first_on=dt.date(2026, 11, 18),
            last_on=TODAY,
            fired_data=facts,
            data=facts,
        )
    )
    industries_svc.set_override(
        session, industry="manufacturing", tier=1, reason="strategic", actor=CSM, now=AS_OF
    )
    late = tasks_svc.create_task(
        session,
        account_id="acme",
        title="Call the champion",
        action=None,
        due_on=TODAY - dt.timedelta(days=2),
        assignee=None,
        description=None,
        actor=CSM,
        now=AS_OF,
    )
    soon = tasks_svc.create_task(
        session,
        account_id="acme",
        title="Plan the QBR",
        action=None,
        due_on=TODAY + dt.timedelta(days=5),
        assignee=None,
        description=None,
        actor=CSM,
        now=AS_OF,
    )
    assert late.task.id is not None and soon.task.id is not None and ids["acme"] is not None
    return {"late": late.task.id, "soon": soon.task.id, "acme": ids["acme"]}
