"""Account history, industry tiers and playbook task syncs against a real database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app.accounts import history as account_history
from app.accounts import industries
from app.accounts import service as accounts
from app.accounts.schemas import AccountUpdate
from app.lifecycle import playbooks, tasks
from app.models import AccountHistory, Task
from app.scoring.playbooks import AccountFacts, Conditions, Rule
from app.scoring.tiers import TierConfig
from tests.builders import AS_OF, make_account, make_user

TODAY = AS_OF.date()


def _history(session: Session, account_id: int) -> list[tuple[str, dt.date, Any, Any]]:
    rows = session.exec(select(AccountHistory).where(AccountHistory.account_id == account_id)
                        .order_by(col(AccountHistory.occurred_on), col(AccountHistory.kind))).all()
    return [(r.kind, r.occurred_on, r.arr_before, r.arr_after) for r in rows]


def test_account_changes_are_recorded_as_history(session: Session) -> None:
    account = make_account(session, arr=Decimal(1000), contract_start_on=dt.date(2025, 4, 1),
                           renewal_on=dt.date(2026, 4, 1))
    assert account.id is not None
    update = accounts.update_account
    # Renewed: the renewal date moves a year on, with an upsell.
    update(session, external_id="acme", now=AS_OF,
           account_in=AccountUpdate(renewal_on=dt.date(2027, 4, 1), arr=Decimal(1200)))
    # A correction of a few days is not a renewal.
    update(session, external_id="acme", now=AS_OF,
           account_in=AccountUpdate(renewal_on=dt.date(2027, 4, 3)))
    # Two ARR changes on one day are one net change.
    update(session, external_id="acme", now=AS_OF, account_in=AccountUpdate(arr=Decimal(1300)))
    update(session, external_id="acme", now=AS_OF, account_in=AccountUpdate(arr=Decimal(1250)))
    update(session, external_id="acme", now=AS_OF + dt.timedelta(days=3),
           account_in=AccountUpdate(status="churned"))

    assert _history(session, account.id) == [
        ("contract_start", dt.date(2025, 4, 1), None, Decimal(1000)),
        ("renewal", dt.date(2026, 4, 1), Decimal(1000), Decimal(1200)),
        ("arr_change", TODAY, Decimal(1200), Decimal(1250)),
        ("churn", TODAY + dt.timedelta(days=3), Decimal(1250), Decimal(0)),
    ]


def test_import_is_idempotent_and_replaces(session: Session) -> None:
    account = make_account(session)
    event = account_history.HistoryEventIn(account_id="acme", kind="renewal",
                                           occurred_on=dt.date(2025, 1, 1),
                                           arr_before=Decimal(10), arr_after=Decimal(12))
    for _ in range(2):
        account_history.import_history(session, events_in=[event], actor="k", now=AS_OF)
    fixed = account_history.HistoryEventIn(account_id="acme", kind="renewal",
                                           occurred_on=dt.date(2025, 1, 1),
                                           arr_before=Decimal(10), arr_after=Decimal(15))
    stored = account_history.import_history(session, events_in=[fixed], actor="k", now=AS_OF)

    assert account.id is not None
    assert _history(session, account.id) == [
        ("renewal", dt.date(2025, 1, 1), Decimal(10), Decimal(15))]
    assert stored[0][1] == "acme" and stored[0][0].actor == "k"


def _renewals(session: Session, industry: str, renewed: int, churned: int, growth: float) -> None:
    events = []
    for n in range(renewed + churned):
        make_account(session, id=f"{industry}-{n}", name=f"{industry} {n}", industry=industry,
                     arr=Decimal(1000), contract_start_on=dt.date(2024, 6, 1))
        if n < renewed:
            events.append(account_history.HistoryEventIn(
                account_id=f"{industry}-{n}", kind="renewal", occurred_on=dt.date(2025, 6, 1),
                arr_before=Decimal(1000), arr_after=Decimal(1000 * (1 + growth))))
        else:
            events.append(account_history.HistoryEventIn(
                account_id=f"{industry}-{n}", kind="churn", occurred_on=dt.date(2025, 5, 1),
                arr_before=Decimal(1000)))
    account_history.import_history(session, events_in=events, actor="test", now=AS_OF)


def test_industry_tiers_from_history_and_override(session: Session) -> None:
    _renewals(session, "manufacturing", renewed=10, churned=0, growth=0.2)
    _renewals(session, "retail", renewed=7, churned=3, growth=0.0)
    _renewals(session, "media", renewed=3, churned=0, growth=0.0)
    # An upsell mid-term counts: the base is the contract start's ARR, not the renewal's before.
    account_history.import_history(session, events_in=[account_history.HistoryEventIn(
        account_id="retail-0", kind="contract_start", occurred_on=dt.date(2024, 6, 1),
        arr_after=Decimal(500))], actor="t", now=AS_OF)

    tiers = industries.industry_tiers(session, as_of=TODAY)

    top = tiers["manufacturing"]
    assert (top.tier, top.is_target, top.renewals_due, top.renewed) == (1, True, 10, 10)
    assert top.expansion_rate is not None and abs(top.expansion_rate - 0.2) < 1e-9
    assert (tiers["retail"].tier, tiers["retail"].renewal_rate) == (4, 0.7)
    assert tiers["retail"].arr_base == 6500.0 and tiers["retail"].arr_renewed == 7000.0
    assert (tiers["media"].tier, tiers["media"].status) == (None, "insufficient_data")
    # Outside a 6-month lookback nothing counts.
    short = industries.industry_tiers(session, as_of=TODAY, config=TierConfig(lookback_months=6))
    assert short["manufacturing"].renewals_due == 0

    industries.set_override(session, industry="retail", tier=1, reason="new strategy",
                            actor="admin", now=AS_OF)
    retail = industries.industry_tiers(session, as_of=TODAY)["retail"]
    assert (retail.tier, retail.computed_tier, retail.is_target) == (1, 4, True)
    assert retail.override is not None and retail.override.reason == "new strategy"
    industries.set_override(session, industry="retail", tier=2, reason="again", actor="b",
                            now=AS_OF)
    assert industries.industry_tiers(session, as_of=TODAY)["retail"].tier == 2
    industries.clear_override(session, industry="retail")
    assert industries.industry_tiers(session, as_of=TODAY)["retail"].tier == 4


def _facts(account_id: int, owner_id: int | None = None, **fields: Any) -> AccountFacts:
    base: dict[str, Any] = {
        "account_id": account_id, "owner_id": owner_id, "stage": "rescue", "band": "bad",
        "signals": frozenset(), "segment": "enterprise", "tier": 1, "is_target": True,
        "tenure_days": 400,
    }
    base.update(fields)
    return AccountFacts(**base)


def _tasks(session: Session) -> list[Task]:
    return list(session.exec(select(Task).order_by(col(Task.id))).all())


def test_sync_creates_tasks_once_and_installs_the_default_playbook(session: Session) -> None:
    owner = make_user(session)
    account = make_account(session)
    assert account.id is not None
    facts = [_facts(account.id, owner.id, signals=frozenset({"renewal_window"}))]

    first = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF)
    again = tasks.sync_playbook_tasks(session, facts=facts + facts, now=AS_OF)

    assert (first.created, again.created, again.kept) == (2, 0, 2)
    rows = _tasks(session)
    assert sorted(t.rule_key or "" for t in rows) == ["flow-rescue-bad", "renewal-window"]
    renewal = next(t for t in rows if t.rule_key == "renewal-window")
    assert renewal.action == "renewal_review" and renewal.assignee_id == owner.id
    assert renewal.due_on == TODAY + dt.timedelta(days=14)
    assert renewal.basis["rule"] == "renewal-window" and renewal.playbook_version == 1


def test_a_racing_duplicate_insert_is_skipped(session: Session) -> None:
    account = make_account(session)
    assert account.id is not None
    tasks.sync_playbook_tasks(session, facts=[_facts(account.id)], now=AS_OF)
    existing = _tasks(session)[0]
    row = {c: getattr(existing, c) for c in (
        "account_id", "playbook_id", "playbook_version", "rule_key", "action", "title", "due_on",
        "status", "basis", "created_by", "created_at", "updated_at")}

    assert tasks._insert(session, [row]) == 0
    assert len(_tasks(session)) == 1


def test_tasks_close_themselves_when_the_condition_clears(session: Session) -> None:
    account = make_account(session)
    assert account.id is not None
    tasks.sync_playbook_tasks(session, facts=[_facts(account.id)], now=AS_OF)

    result = tasks.sync_playbook_tasks(session, facts=[_facts(account.id, band="normal")],
                                       now=AS_OF + dt.timedelta(days=1))

    assert (result.closed, result.created) == (1, 1)
    closed, new = _tasks(session)
    assert closed.status == "closed" and closed.closed_by == "playbook"
    assert closed.close_reason == "condition cleared: band is normal, rule wants in {bad}"
    assert new.rule_key == "flow-rescue-normal" and new.status == "open"


def test_done_tasks_wait_out_the_cooldown(session: Session) -> None:
    account = make_account(session)
    assert account.id is not None
    facts = [_facts(account.id)]
    tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF)
    task = _tasks(session)[0]
    tasks.complete_task(session, task_id=task.id or 0, interaction_id=None, actor="csm", now=AS_OF)

    soon = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF + dt.timedelta(days=29))
    later = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF + dt.timedelta(days=31))

    assert (soon.created, soon.skipped_cooldown) == (0, 1)
    assert later.created == 1


def test_removed_rules_and_inactive_playbooks_close_their_tasks(session: Session) -> None:
    account = make_account(session)
    assert account.id is not None
    custom = playbooks.create_playbook(
        session, name="custom", description=None, actor="admin", now=AS_OF,
        rules=[Rule(key="any", action="usage_campaign"), Rule(key="bad", action="adoption_review",
                                                             when=Conditions(bands=frozenset({"bad"})))],
    )
    tasks.sync_playbook_tasks(session, facts=[_facts(account.id)], now=AS_OF)
    assert len(_tasks(session)) == 2  # a playbook exists, so the default is not installed

    playbooks.publish(session, playbook_id=custom.playbook.id or 0, description=None, note=None,
                      rules=[Rule(key="any", action="usage_campaign")], actor="admin", now=AS_OF)
    removed = tasks.sync_playbook_tasks(session, facts=[_facts(account.id)], now=AS_OF)
    assert removed.closed == 1
    gone = next(t for t in _tasks(session) if t.rule_key == "bad")
    assert gone.close_reason == "rule bad is no longer in active playbook custom"

    playbooks.set_active(session, playbook_id=custom.playbook.id or 0, active=False, now=AS_OF)
    assert tasks.sync_playbook_tasks(session, facts=[_facts(account.id)], now=AS_OF).closed == 1


def test_many_tasks_close_at_once(session: Session) -> None:
    """Regression: closing two or more tasks in one sync used to fail (an ``IN`` list cannot be
    sent with the many parameter sets of one UPDATE), which stopped the daily lifecycle job."""
    first, second = make_account(session), make_account(session, id="beta", name="Beta")
    assert first.id is not None and second.id is not None
    custom = playbooks.create_playbook(
        session, name="custom", description=None, actor="admin", now=AS_OF,
        rules=[Rule(key="one", action="usage_campaign"), Rule(key="two", action="adoption_review")],
    )
    facts = [_facts(first.id), _facts(second.id)]
    tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF)
    snoozed = _tasks(session)[0]
    tasks.snooze_task(session, task_id=snoozed.id or 0, until=TODAY + dt.timedelta(days=5),
                      today=TODAY, now=AS_OF)
    playbooks.set_active(session, playbook_id=custom.playbook.id or 0, active=False, now=AS_OF)

    result = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF + dt.timedelta(hours=1))

    assert result.closed == 4
    rows = _tasks(session)
    for row in rows:
        session.refresh(row)
    assert {(t.status, t.closed_by, t.snoozed_until) for t in rows} == {("closed", "playbook", None)}
    assert {t.close_reason for t in rows} == {"rule one is no longer in active playbook custom",
                                              "rule two is no longer in active playbook custom"}


def test_snoozed_tasks_count_as_open_and_wake_up(session: Session) -> None:
    account = make_account(session)
    assert account.id is not None
    facts = [_facts(account.id)]
    tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF)
    task = _tasks(session)[0]
    tasks.snooze_task(session, task_id=task.id or 0, until=TODAY + dt.timedelta(days=5),
                      today=TODAY, now=AS_OF)

    during = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF + dt.timedelta(days=2))
    after = tasks.sync_playbook_tasks(session, facts=facts, now=AS_OF + dt.timedelta(days=5))

    assert (during.created, during.kept, during.reopened) == (0, 1, 0)
    assert after.reopened == 1
    session.refresh(task)
    assert task.status == "open" and task.snoozed_until is None


@pytest.mark.slow
def test_demo_history_gives_industries_different_tiers(session: Session) -> None:
    from app.demo import service as demo

    demo.load_demo(session, seed=42, accounts=300, now=AS_OF, activity=False)

    tiers = industries.industry_tiers(session, as_of=TODAY)

    assert len({t.tier for t in tiers.values()}) >= 4  # tiers 1–4 (and maybe too few renewals)
    assert tiers["manufacturing"].is_target
    assert (tiers["hospitality"].tier or 0) > (tiers["manufacturing"].tier or 0)
    renewals = session.exec(select(AccountHistory).where(AccountHistory.kind == "renewal")).all()
    oldest = min(r.occurred_on for r in renewals)
    assert (TODAY - oldest).days > 300 and len(renewals) > 100
    assert any(r.arr_after != r.arr_before for r in renewals)
