"""The daily lifecycle run: stages and signals recorded, then the playbooks turn them into tasks.

One read of every account's facts feeds all three, so the tasks a CSM gets always match the stage
and signals shown beside them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.accounts.industries import industry_tiers
from app.lifecycle import stages, tasks
from app.scoring.playbooks import AccountFacts


@dataclass(frozen=True)
class LifecycleResult:
    day: dt.date
    accounts: int
    stage_changes: int
    signals_fired: int
    signals_cleared: int
    tasks_created: int
    tasks_closed: int
    tasks_reopened: int


def playbook_facts(assessed: dict[int, stages.Assessed], *, day: dt.date,
                   tiers: dict[str, object]) -> list[AccountFacts]:
    """What the playbooks match on, from the day's assessment."""
    out = []
    for account_id, a in sorted(assessed.items()):
        f = a.facts
        tier = tiers.get(f.industry or "")
        out.append(AccountFacts(
            account_id=account_id, owner_id=f.owner_id, stage=a.stage.stage, band=f.band,
            signals=frozenset(s.kind for s in a.signals), segment=f.segment,
            tier=getattr(tier, "tier", None), is_target=bool(getattr(tier, "is_target", False)),
            tenure_days=f.tenure_days(day),
        ))
    return out


def run_daily(session: Session, *, now: dt.datetime, tz: ZoneInfo) -> LifecycleResult:
    """Stages, signals and playbook tasks for every active account as of now."""
    result = stages.run_daily(session, now=now, tz=tz)
    tiers = industry_tiers(session, as_of=result.day)
    synced = tasks.sync_playbook_tasks(
        session, facts=playbook_facts(result.assessed, day=result.day, tiers=dict(tiers)), now=now, tz=tz)
    return LifecycleResult(result.day, result.accounts, result.stage_changes, result.signals_fired,
                           result.signals_cleared, synced.created, synced.closed, synced.reopened)
