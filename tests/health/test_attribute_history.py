"""Past scoring dates see accounts' attributes and contacts' roles as they were then.

Time zone Asia/Tokyo, today 2026-11-23 (the tests' clock, 18:00 in Tokyo). Changes are made
through the services with a past ``now``, as a replay of the past would make them.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.accounts import changes as attribute_history
from app.accounts import service as accounts
from app.accounts.schemas import AccountCreate, AccountUpdate, ContactCreate, ContactUpdate
from app.health import models as health_models
from app.health import values as health_values
from app.health.backtest import run_backtest
from app.health.schemas import BacktestIn
from app.health.spec import ModelSpec
from app.health.values import compute_values, load_accounts
from app.imports import service as csv_import
from app.ingest import sources
from app.ingest import store as ingest_store
from app.ingest.rollups import UsageRow, add_usage
from app.models import Account, AccountChange, Contact, ContactChange
from tests.builders import AS_OF, make_user
from tests.segment_messages import group, identify

TZ = ZoneInfo("Asia/Tokyo")
TODAY = dt.date(2026, 11, 23)
START = dt.date(2025, 1, 1)


def ago(days: int) -> dt.datetime:
    """The tests' clock, ``days`` days earlier."""
    return AS_OF - dt.timedelta(days=days)


def day(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def account(session: Session, external_id: str, *, created: int = 100, **fields: Any) -> Account:
    data: dict[str, Any] = {
        "id": external_id,
        "name": external_id.title(),
        "contract_start_on": START,
        **fields,
    }
    return accounts.create_account(session, account_in=AccountCreate(**data), now=ago(created))


def contact(session: Session, account_id: str, *, created: int = 100, **fields: Any) -> Contact:
    return accounts.create_contact(
        session, account_id=account_id, contact_in=ContactCreate(**fields), now=ago(created)
    )


def spec_of(*measures: dict[str, Any]) -> dict[str, Any]:
    return {
        "scale_max": 100,
        "band_good": 70,
        "band_normal": 40,
        "groups": [{"key": "g", "name": "G", "weight": 1, "measures": list(measures)}],
    }


def attribute(key: str, name: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "source": {"type": "attribute", "attribute": name},
        "grading": {"kind": "thresholds", "good": 1, "normal": 1},
        "missing": "bad",
    }


ATTRIBUTES = spec_of(
    attribute("champion", "has_champion"),
    attribute("dm", "has_decision_maker"),
    attribute("star", "has_star_user"),
    attribute("contacts", "contacts"),
    attribute("seats", "licensed_seats"),
    attribute("arr", "arr"),
)
SEATS = spec_of(
    {
        "key": "activation",
        "name": "activation",
        "window_days": 30,
        "source": {"type": "usage", "metric": "seat_activation"},
        "grading": {"kind": "thresholds", "good": 0.6, "normal": 0.3},
    },
    {
        "key": "per_seat",
        "name": "per seat",
        "window_days": 30,
        "source": {"type": "usage", "metric": "events", "per_seat": True},
        "grading": {"kind": "thresholds", "good": 1, "normal": 0.5},
    },
)


def values_on(session: Session, definition: dict[str, Any], on: dt.date) -> dict[str, dict[str, Any]]:
    """``{account external id: {measure: value}}`` scored at the end of ``on``."""
    spec = ModelSpec.model_validate(definition)
    found = load_accounts(session, as_of=on, tz=TZ)
    values = compute_values(session, spec, accounts=found, as_of=on, tz=TZ)
    return {
        a.external_id: dict(zip(values.keys, row, strict=True))
        for a, row in zip(values.accounts, values.rows(), strict=True)
    }


@pytest.fixture(params=["named", "all"])
def scope(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Queries name the accounts scored, or (as for a large book) read every account's rows."""
    if request.param == "all":
        monkeypatch.setattr(health_values, "NAMED_ACCOUNTS", 0)
    return str(request.param)


@pytest.fixture
def book(session: Session, scope: str) -> dict[str, int]:
    """``left``: its champion (and decision maker) removed 40 days ago; ``unflagged``: its
    champion stopped being one 40 days ago; ``newcomer``: a star user joined 10 days ago;
    ``grown``: seats 10 → 20 and ARR up 50 days ago; ``steady``: never changed."""
    account(session, "left", licensed_seats=10)
    champion = contact(session, "left", name="Champion", is_champion=True, is_decision_maker=True)
    contact(session, "left", name="Other")
    accounts.delete_contact(session, account_id="left", contact_id=champion.id or 0, now=ago(40))

    account(session, "unflagged")
    was = contact(session, "unflagged", name="Former champion", is_champion=True)
    accounts.update_contact(
        session,
        account_id="unflagged",
        contact_id=was.id or 0,
        contact_in=ContactUpdate(is_champion=False),
        now=ago(40),
    )

    account(session, "newcomer")
    contact(session, "newcomer", name="Old hand")
    contact(session, "newcomer", created=10, name="New star", is_star_user=True)

    grown = account(session, "grown", licensed_seats=10, arr="1200000")
    accounts.update_account(
        session, external_id="grown", now=ago(50), account_in=AccountUpdate(licensed_seats=20, arr="2400000")
    )
    # Five users 65 days ago (in the 30-day window ending 60 days ago), 40 events.
    add_usage(
        session,
        [
            UsageRow(
                grown.id or 0,
                day(65),
                "report.created",
                f"u{n}",
                dt.datetime.combine(day(65), dt.time(3), tzinfo=dt.UTC),
            )
            for n in range(5)
            for _ in range(8)
        ],
        AS_OF,
    )

    account(session, "steady", licensed_seats=5)
    contact(session, "steady", name="Champion", is_champion=True)
    session.flush()
    return {a.external_id: a.id or 0 for a in session.exec(select(Account)).all()}


def test_a_champion_removed_40_days_ago_counts_60_days_ago_not_20(
    session: Session, book: dict[str, int]
) -> None:
    before, after, today = (values_on(session, ATTRIBUTES, d) for d in (day(60), day(20), TODAY))

    for name in ("left", "unflagged"):
        assert before[name]["champion"] == 1.0
        assert after[name]["champion"] == 0.0
        assert today[name]["champion"] == 0.0
    assert before["left"]["dm"] == 1.0 and after["left"]["dm"] == 0.0
    assert (before["left"]["contacts"], after["left"]["contacts"]) == (2.0, 1.0)
    assert before["steady"]["champion"] == after["steady"]["champion"] == 1.0


def test_a_contact_created_10_days_ago_did_not_exist_30_days_ago(
    session: Session, book: dict[str, int]
) -> None:
    before, today = values_on(session, ATTRIBUTES, day(30)), values_on(session, ATTRIBUTES, TODAY)

    assert (before["newcomer"]["contacts"], before["newcomer"]["star"]) == (1.0, 0.0)
    assert (today["newcomer"]["contacts"], today["newcomer"]["star"]) == (2.0, 1.0)


def test_seats_raised_50_days_ago_divide_usage_60_days_ago_by_the_old_count(
    session: Session, book: dict[str, int]
) -> None:
    then = {a.external_id: a for a in load_accounts(session, as_of=day(60), tz=TZ)}
    now = {a.external_id: a for a in load_accounts(session, as_of=TODAY, tz=TZ)}
    assert (then["grown"].licensed_seats, then["grown"].arr) == (10, 1_200_000.0)
    assert (now["grown"].licensed_seats, now["grown"].arr) == (20, 2_400_000.0)

    before = values_on(session, SEATS, day(60))["grown"]
    assert before == {"activation": 0.5, "per_seat": 4.0}  # 5 users, 40 events, 10 seats
    attributes = values_on(session, ATTRIBUTES, day(60))["grown"]
    assert (attributes["seats"], attributes["arr"]) == (10.0, 1_200_000.0)
    assert values_on(session, ATTRIBUTES, day(40))["grown"]["seats"] == 20.0


def test_an_account_recorded_after_its_contract_began_is_read_as_first_recorded(
    session: Session,
) -> None:
    """Its contract dates say it was a customer before Bansō knew it: earlier dates read the
    attributes it was first recorded with."""
    account(session, "late", created=10, licensed_seats=7)
    accounts.update_account(
        session, external_id="late", now=ago(5), account_in=AccountUpdate(licensed_seats=9)
    )

    seats = {
        d: {a.external_id: a.licensed_seats for a in load_accounts(session, as_of=d, tz=TZ)}
        for d in (day(30), day(7), TODAY)
    }

    assert [seats[d]["late"] for d in (day(30), day(7), TODAY)] == [7, 7, 9]


def test_today_reads_the_live_tables(session: Session, book: dict[str, int]) -> None:
    """Nothing changed since the end of today: contacts are the table itself, accounts as loaded
    without a date."""
    end = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(), tzinfo=TZ)
    assert attribute_history.contacts_as_of(session, end) is attribute_history.CONTACT
    assert attribute_history.accounts_as_of(session, end) == {}
    assert load_accounts(session, as_of=TODAY, tz=TZ) == load_accounts(session)
    # A contact edited behind the services' back is read as it is (no history to overlay).
    hand = session.exec(select(Contact).where(Contact.name == "Old hand")).one()
    hand.is_star_user = True
    session.flush()
    assert values_on(session, ATTRIBUTES, day(30))["newcomer"]["star"] == 1.0


def test_a_champion_only_backtest_sees_the_champion_as_it_was(session: Session) -> None:
    """60 days ago: ``left`` still had its champion (removed 40 days ago) and churned 25 days
    ago (within the 45-day horizon); ``steady`` had one and stayed; ``lone`` never had one and
    stayed. Read with today's roles, ``left`` would look championless all along (AUC 0.75, a
    leak); as it was, the measure ranks the churner no lower than anyone (AUC 0.25)."""
    account(session, "left")
    champion = contact(session, "left", is_champion=True)
    accounts.delete_contact(session, account_id="left", contact_id=champion.id or 0, now=ago(40))
    accounts.update_account(
        session,
        external_id="left",
        now=ago(25),
        account_in=AccountUpdate(status="churned", churned_on=day(25)),
    )
    account(session, "steady")
    contact(session, "steady", is_champion=True)
    account(session, "lone")
    contact(session, "lone")
    definition = spec_of(attribute("champion", "has_champion"))
    model, _ = health_models.create_model(
        session, name="Champion only", definition=definition, now=AS_OF, publish=True
    )

    result = run_backtest(
        session,
        model_id=model.id or 0,
        today=TODAY,
        tz=TZ,
        params=BacktestIn(start=day(60), end=day(60), horizon_days=45),
    )

    assert result.reference_dates == [day(60)]
    assert (result.observations, result.churned) == (3, 1)
    assert result.auc == pytest.approx(0.25)
    assert result.measures[0].auc == pytest.approx(0.25)


# -- what writes the history ---------------------------------------------------------------------


def contact_rows(session: Session) -> list[tuple[Any, ...]]:
    cc = ContactChange
    return [
        tuple(r)
        for r in session.execute(
            select(
                cc.contact_id,
                cc.is_champion,
                cc.is_decision_maker,
                cc.is_star_user,  # type: ignore[call-overload]
                cc.status,
                cc.valid_from,
                cc.recorded_by,
            ).order_by(cc.id)
        ).all()
    ]


def account_rows(session: Session) -> list[tuple[Any, ...]]:
    ac = AccountChange
    return [
        tuple(r)
        for r in session.execute(
            select(
                ac.account_id,
                ac.licensed_seats,
                ac.arr,
                ac.segment,
                ac.owner_id,  # type: ignore[call-overload]
                ac.valid_from,
                ac.recorded_by,
            ).order_by(ac.id)
        ).all()
    ]


def test_the_services_record_each_change_once(session: Session) -> None:
    owner = make_user(session, email="owner@example.com")
    acme = account(session, "acme", licensed_seats=10, arr="100", segment="smb")
    person = contact(session, "acme", is_champion=True)
    # Changes that touch no tracked attribute record nothing.
    accounts.update_account(
        session, external_id="acme", now=ago(90), account_in=AccountUpdate(name="Acme Inc", arr="100.00")
    )
    accounts.update_contact(
        session,
        account_id="acme",
        contact_id=person.id or 0,
        now=ago(90),
        contact_in=ContactUpdate(title="CTO", is_champion=True),
    )
    accounts.update_account(
        session,
        external_id="acme",
        now=ago(80),
        actor="key-1",
        account_in=AccountUpdate(segment="mid_market", owner=owner.email),
    )
    accounts.update_contact(
        session,
        account_id="acme",
        contact_id=person.id or 0,
        now=ago(70),
        contact_in=ContactUpdate(is_star_user=True),
        actor="key-1",
    )
    accounts.delete_contact(session, account_id="acme", contact_id=person.id or 0, now=ago(60))

    assert account_rows(session) == [
        (acme.id, 10, 100, "smb", None, ago(100), "system"),
        (acme.id, 10, 100, "mid_market", owner.id, ago(80), "key-1"),
    ]
    assert contact_rows(session) == [
        (person.id, True, False, False, "active", ago(100), "system"),
        (person.id, True, False, True, "active", ago(70), "key-1"),
        (person.id, True, False, True, "deleted", ago(60), "system"),
    ]


def test_a_rolled_back_update_leaves_no_history(session: Session) -> None:
    account(session, "acme", licensed_seats=10)
    person = contact(session, "acme", is_champion=True)
    recorded = (account_rows(session), contact_rows(session))

    with pytest.raises(RuntimeError), session.begin_nested():
        accounts.update_account(
            session, external_id="acme", now=ago(5), account_in=AccountUpdate(licensed_seats=50)
        )
        accounts.update_contact(
            session,
            account_id="acme",
            contact_id=person.id or 0,
            now=ago(5),
            contact_in=ContactUpdate(is_champion=False),
        )
        raise RuntimeError("the request failed after the change")

    assert (account_rows(session), contact_rows(session)) == recorded
    assert session.get(Account, person.account_id).licensed_seats == 10  # type: ignore[union-attr]


def test_a_csv_import_records_its_changes_and_an_aborted_one_none(session: Session) -> None:
    account(session, "acme")
    contact(session, "acme", external_id="u-hana", email="hana@acme.jp")
    recorded = contact_rows(session)

    aborted = csv_import.import_csv(
        session,
        kind="contacts",
        now=AS_OF,
        stream=io.StringIO("account_id,external_id,is_champion\nacme,u-hana,true\nnowhere,u-ken,true\n"),
    )
    assert not aborted.committed
    assert contact_rows(session) == recorded

    done = csv_import.import_csv(
        session,
        kind="contacts",
        now=AS_OF,
        stream=io.StringIO("account_id,external_id,is_champion\nacme,u-hana,true\nacme,u-ken,false\n"),
    )
    assert done.committed
    new = contact_rows(session)[len(recorded) :]
    assert [(r[1], r[4], r[5], r[6]) for r in new] == [
        (True, "active", AS_OF, "import"),
        (False, "active", AS_OF, "import"),
    ]
    csv_import.import_csv(
        session,
        kind="accounts",
        now=AS_OF,
        stream=io.StringIO("account_id,name,licensed_seats\nacme,Acme,25\n"),
    )
    assert account_rows(session)[-1][1:2] + account_rows(session)[-1][-1:] == (25, "import")


def test_segment_calls_record_new_accounts_seats_and_contacts(session: Session) -> None:
    source, _ = sources.create_source(session, name="web", now=AS_OF)
    ingest_store.ingest_messages(
        session,
        source=source,
        received_at=AS_OF,
        tz=TZ,
        raws=[
            group("m1", "u1", "acme", name="Acme", seats=12),
            identify("m2", "u1", email="u1@acme.jp"),
        ],
    )
    acme = session.exec(select(Account).where(Account.external_id == "acme")).one()
    u1 = session.exec(select(Contact).where(Contact.external_id == "u1")).one()
    assert account_rows(session) == [(acme.id, 12, 0, None, None, AS_OF, "segment")]
    assert contact_rows(session) == [(u1.id, False, False, False, "active", AS_OF, "segment")]

    later = AS_OF + dt.timedelta(hours=1)
    ingest_store.ingest_messages(
        session,
        source=source,
        received_at=later,
        tz=TZ,
        raws=[
            group("m3", "u1", "acme", name="Acme", seats=12),  # nothing changed
            group("m4", "u2", "acme", seats=30),
        ],
    )
    assert [r[1] for r in account_rows(session)] == [12, 30]
    assert len(contact_rows(session)) == 2  # u2 is new; u1 did not change


def test_a_removed_champion_left_when_the_history_says(session: Session) -> None:
    """The day a champion was removed comes from the contacts' history: a Segment call naming
    the removed person later moves its ``updated_at``, not the day it left."""
    from app.accounts.facts import Scale, gather

    acme = account(session, "acme")
    champion = contact(session, "acme", external_id="u1", is_champion=True)
    accounts.delete_contact(session, account_id="acme", contact_id=champion.id or 0, now=ago(5))
    source, _ = sources.create_source(session, name="web", now=AS_OF)
    ingest_store.ingest_messages(
        session, source=source, received_at=AS_OF, tz=TZ, raws=[group("m1", "u1", "acme")]
    )
    session.refresh(champion)
    assert champion.updated_at == AS_OF

    facts = gather(session, at=AS_OF, tz=TZ, scale=Scale())[acme.id or 0]

    assert (facts.has_champion, facts.champion_removed_on) == (False, day(5))
    # Before it left, it had not.
    earlier = gather(session, at=ago(6), tz=TZ, scale=Scale())[acme.id or 0]
    assert earlier.champion_removed_on is None
