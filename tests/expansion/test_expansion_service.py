"""Expansion opportunities against a real database: expansion facts from raw and pushed usage,
suggestions, the pipeline by industry tier, idempotent creates and versioned changes."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.accounts import history as account_history
from app.demo import expansion as demo_expansion
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, PreconditionRequired
from app.expansion import service as svc
from app.expansion.schemas import OpportunityCreate
from app.ingest.rollups import UsageRow, add_usage
from app.usage import aggregates as usage_svc
from app.usage.schemas import DailyAggregateIn
from tests.builders import AS_OF, make_account, make_user

TODAY = dt.date(2026, 11, 23)  # AS_OF in Asia/Tokyo
D = Decimal


def _day(offset: int) -> dt.date:
    return TODAY - dt.timedelta(days=offset)


def _raw(session: Session, account_id: int, users: int, day_offset: int = 1) -> None:
    """``users`` different users each doing one event on a day, as ingested raw events."""
    moment = dt.datetime.combine(_day(day_offset), dt.time(3), tzinfo=dt.UTC)
    add_usage(
        session,
        [UsageRow(account_id, _day(day_offset), "page", f"u{n}", moment) for n in range(users)],
        AS_OF,
    )


def _push_events(session: Session, account: str, day_offset: int, count: int) -> None:
    usage_svc.replace_daily_aggregates(
        session,
        rows=[
            DailyAggregateIn(
                account_id=account, day=_day(day_offset), event="report.viewed", count=count, distinct_users=1
            )
        ],
        now=AS_OF,
    )


def _create(session: Session, **fields: object) -> svc.OpportunityView:
    body: dict[str, object] = {"account_id": "acme", "kind": "cross_sell", **fields}
    return svc.create_opportunity(
        session, opportunity_in=OpportunityCreate.model_validate(body), actor="tester", now=AS_OF, today=TODAY
    )


def test_expansion_inputs_count_distinct_users_and_event_windows(session: Session) -> None:
    acme = make_account(session, licensed_seats=10, arr=D(1_200_000))
    assert acme.id is not None
    # Raw events: users u0…u8 on day 1 and u0…u4 on day 20 → 9 distinct users in 30 days;
    # day 40 is outside the window.
    _raw(session, acme.id, 9, day_offset=1)
    _raw(session, acme.id, 5, day_offset=20)
    _raw(session, acme.id, 10, day_offset=40)
    # Events: days 0–27 are the recent window, 28–55 the prior one.
    _push_events(session, "acme", 27, 100)
    _push_events(session, "acme", 28, 50)
    _push_events(session, "acme", 56, 999)  # outside both windows

    facts = svc.expansion_inputs(session, today=TODAY)[acme.id]

    assert facts.licensed_seats == 10 and facts.users_30d == 9
    # Recent: 9 + 5 raw events + 100 pushed; prior: 10 raw (day 40) + 50 pushed.
    assert (facts.events_recent, facts.events_prior) == (114, 60)
    assert facts.arr == D(1_200_000)


def test_suggestions_skip_accounts_with_an_open_opportunity(session: Session) -> None:
    acme = make_account(session, id="acme", licensed_seats=10, arr=D(1_000_000))
    globex = make_account(session, id="globex", name="Globex", licensed_seats=10, arr=D(1_000_000))
    initech = make_account(session, id="initech", name="Initech", arr=D(2_000_000))
    for account in (acme, globex):
        assert account.id is not None
        _raw(session, account.id, 9)
    # Initech's events grew from 100 to 150 (+50 %): a plan upgrade at 20 % of ¥2,000,000.
    _push_events(session, "initech", 40, 100)
    _push_events(session, "initech", 3, 150)
    _create(session, account_id="globex", stage="qualified")

    found = svc.suggestions(session, filters=svc.Filters(), today=TODAY)

    assert [(s.account.external_id, s.signal.kind, s.signal.amount) for s in found] == [
        ("initech", "usage_growth", D("400000.00")),
        # 2 more seats (a fifth of 10) at ¥100,000 each.
        ("acme", "seats_nearly_full", D("200000.00")),
    ]
    assert initech.id is not None
    # A won (closed) opportunity does not hide the suggestion; filters apply to the account.
    _create(session, account_id="initech", stage="won", amount=D(1))
    assert [
        s.account.external_id
        for s in svc.suggestions(session, filters=svc.Filters(segment="enterprise"), today=TODAY)
    ] == []
    assert len(svc.suggestions(session, filters=svc.Filters(), today=TODAY)) == 2


def test_create_from_suggestion_records_the_signal_and_is_one_per_day(session: Session) -> None:
    acme = make_account(session, licensed_seats=10, arr=D(1_000_000))
    assert acme.id is not None
    _raw(session, acme.id, 10)

    first = svc.create_from_suggestion(
        session, account_id="acme", signal="seats_nearly_full", actor="sato", now=AS_OF, today=TODAY
    )
    second = svc.create_from_suggestion(
        session, account_id="acme", signal="seats_nearly_full", actor="sato", now=AS_OF, today=TODAY
    )

    row = first.opportunity
    assert (row.kind, row.source, row.amount, row.stage) == (
        "upsell_seats",
        "seats_nearly_full",
        D("200000.00"),
        "identified",
    )
    assert row.source_data["seat_use"] == 1.0 and row.source_data["suggested_amount"] == 200000.0
    assert first.created and not second.created and second.opportunity.id == row.id
    with pytest.raises(InvalidInput) as refused:
        svc.create_from_suggestion(
            session, account_id="acme", signal="usage_growth", actor="sato", now=AS_OF, today=TODAY
        )
    assert refused.value.errors[0].field == "source"
    with pytest.raises(InvalidInput):
        svc.create_from_suggestion(
            session, account_id="acme", signal="moon", actor="s", now=AS_OF, today=TODAY
        )


def test_pipeline_by_industry_tier(session: Session) -> None:
    # Ten manufacturing renewals with +20 % ARR → tier 1; retail has too few → no tier.
    events = []
    for n in range(10):
        make_account(session, id=f"m{n}", name=f"M{n}", industry="manufacturing", arr=D(1000))
        events.append(
            account_history.HistoryEventIn(
                account_id=f"m{n}",
                kind="renewal",
                occurred_on=dt.date(2025, 6, 1),
                arr_before=D(1000),
                arr_after=D(1200),
            )
        )
    account_history.import_history(session, events_in=events, actor="t", now=AS_OF)
    make_account(session, id="shop", name="Shop", industry="retail")
    _create(session, account_id="m0", stage="proposal", amount=D(1_000_000))
    _create(session, account_id="m1", stage="won", amount=D(500_000))
    _create(
        session,
        account_id="shop",
        stage="committed",
        amount=D(400_000),
        expected_close_on=dt.date(2027, 1, 5),
    )

    result = svc.pipeline(session, filters=svc.Filters(), today=TODAY)

    assert [(b.key, b.count, b.amount, b.weighted) for b in result.by_tier] == [
        ("1", 1, D(1_000_000), D("500000.00")),
        ("none", 1, D(400_000), D("320000.00")),
    ]
    tier1 = svc.pipeline(session, filters=svc.Filters(tier="1"), today=TODAY)
    assert {b.key: b.count for b in tier1.by_stage if b.count} == {"proposal": 1, "won": 1}
    page = svc.list_opportunities(session, filters=svc.Filters(tier="none"), page=None, today=TODAY)
    assert [(v.account.external_id, v.tier) for v in page.items] == [("shop", None)]
    page = svc.list_opportunities(session, filters=svc.Filters(tier="1"), page=None, today=TODAY)
    assert {v.tier for v in page.items} == {1}


def test_versioned_update_and_delete(session: Session) -> None:
    make_user(session, email="sato@example.com")
    make_account(session, owner="sato@example.com")
    view = _create(session, amount=D(100))
    oid = view.opportunity.id
    assert oid is not None and view.owner is not None and view.owner.email == "sato@example.com"

    with pytest.raises(PreconditionRequired):
        svc.update_opportunity(
            session,
            opportunity_id=oid,
            changes={"amount": D(5)},
            expected_version=None,
            actor="a",
            now=AS_OF,
            today=TODAY,
        )
    changed = svc.update_opportunity(
        session,
        opportunity_id=oid,
        changes={"owner": None, "notes": " x "},
        expected_version=1,
        actor="a",
        now=AS_OF,
        today=TODAY,
    )
    assert (changed.owner, changed.opportunity.notes, changed.opportunity.version) == (None, "x", 2)
    with pytest.raises(PreconditionFailed) as stale:
        svc.update_opportunity(
            session,
            opportunity_id=oid,
            changes={"amount": D(5)},
            expected_version=1,
            actor="b",
            now=AS_OF,
            today=TODAY,
        )
    assert stale.value.extra["current"]["updated_by"] == "a"
    with pytest.raises(InvalidInput):
        svc.update_opportunity(
            session,
            opportunity_id=oid,
            changes={"version": 9},
            expected_version=2,
            actor="a",
            now=AS_OF,
            today=TODAY,
        )
    svc.delete_opportunity(session, opportunity_id=oid, expected_version=2, today=TODAY)
    with pytest.raises(NotFound):
        svc.get_opportunity(session, oid)


def test_the_same_key_for_another_request_is_a_conflict(session: Session) -> None:
    make_account(session)
    first = _create(session, external_id="crm-1", amount=D(10))
    assert _create(session, external_id="crm-1", amount=D(10)).opportunity.id == first.opportunity.id
    with pytest.raises(Conflict):
        _create(session, external_id="crm-1", amount=D(11))


def test_demo_opportunities_span_the_stages_and_take_up_signals(session: Session) -> None:
    make_user(session, email="sato@example.com")
    for n in range(20):
        account = make_account(
            session,
            id=f"a{n:02d}",
            name=f"A{n}",
            licensed_seats=10,
            arr=D(1_200_000),
            owner="sato@example.com",
        )
        assert account.id is not None
        if n < 3:
            _raw(session, account.id, 10)  # seats full

    created = demo_expansion.load_demo_opportunities(
        session, rng=random.Random(5), now=AS_OF, tz=ZoneInfo("Asia/Tokyo")
    )

    items = svc.list_opportunities(session, filters=svc.Filters(), page=None, today=TODAY).items
    assert created == len(items) == 3 + demo_expansion.MANUAL
    by_source = Counter(v.opportunity.source for v in items)
    assert by_source == {"seats_nearly_full": 3, "manual": demo_expansion.MANUAL}
    assert len({v.opportunity.stage for v in items}) >= 4
    for view in items:
        row = view.opportunity
        assert (row.closed_on is not None) == (row.stage in ("won", "lost"))
        if row.closed_on is not None:
            assert row.closed_on < TODAY
        assert (row.lost_reason is not None) == (row.stage == "lost")
        assert view.owner is not None and row.amount > 0
    # Every signal was taken up: nothing is left to suggest.
    assert svc.suggestions(session, filters=svc.Filters(), today=TODAY) == []
