"""Models per segment: the ordered rules give each account its primary model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session

from app.errors import InvalidInput
from app.health import assignments
from app.health import models as health_models
from app.health.assignments import RuleIn
from tests.builders import AS_OF, make_account


@pytest.fixture
def book(session: Session) -> dict[str, int]:
    abc, _ = health_models.adopt_preset(session, preset="abc", now=AS_OF)  # the default (first)
    adoption, _ = health_models.adopt_preset(session, preset="adoption", now=AS_OF)
    minimal, _ = health_models.adopt_preset(session, preset="minimal", now=AS_OF)
    ids = {"abc": abc.id, "adoption": adoption.id, "minimal": minimal.id}
    for external_id, fields in {
        "big": {"segment": "enterprise", "arr": Decimal(5_000_000)},
        "mid": {"segment": "mid_market", "arr": Decimal(900_000), "plan": "pro"},
        "small": {"segment": "smb", "arr": Decimal(100_000), "traits": {"tier": "gold", "n": 5}},
        "bare": {"segment": None, "industry": None},
    }.items():
        account = make_account(session, id=external_id, name=external_id.title(), **fields)
        ids[external_id] = account.id
    return ids


def _primary(session: Session, ids: dict[str, int]) -> dict[str, int | None]:
    found = assignments.primary_models(session)
    return {name: found[ids[name]] for name in ("big", "mid", "small", "bare")}


def test_without_rules_every_account_is_on_the_default_model(session: Session, book: dict[str, int]) -> None:
    assert set(_primary(session, book).values()) == {book["abc"]}
    primary = assignments.primary_of(session, book["big"])
    assert primary.model is not None and primary.model.id == book["abc"] and primary.rule is None


def test_the_first_matching_rule_gives_the_model(session: Session, book: dict[str, int]) -> None:
    assignments.replace(
        session,
        [
            RuleIn(book["adoption"], "segment", values=["enterprise"]),
            RuleIn(book["minimal"], "arr_at_least", amount="500000"),
            RuleIn(book["adoption"], "plan", values=["pro"]),  # "mid" matched the ARR rule before
            RuleIn(book["minimal"], "trait", key="tier", values=["gold"]),
        ],
        actor="admin@example.com",
        now=AS_OF,
    )
    assert _primary(session, book) == {
        "big": book["adoption"],
        "mid": book["minimal"],
        "small": book["minimal"],
        "bare": book["abc"],
    }
    why = assignments.primary_of(session, book["small"])
    assert why.rule is not None and (why.rule.position, why.rule.rule) == (4, "trait")
    assert why.rule.params == {"key": "tier", "values": ["gold"]}
    assert assignments.primary_models(session, [book["big"]]) == {book["big"]: book["adoption"]}


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        (RuleIn(0, "segment", values=["smb", "mid_market"]), {"mid", "small"}),
        (RuleIn(0, "industry", values=["manufacturing"]), {"big", "mid", "small"}),
        (RuleIn(0, "plan", values=["pro"]), {"mid"}),
        (RuleIn(0, "trait", key="tier", values=["gold"]), {"small"}),
        (RuleIn(0, "trait", key="n", values=["5"]), {"small"}),  # a whole number matches its digits
        (RuleIn(0, "trait", key="missing", values=["5"]), set()),
        (RuleIn(0, "arr_at_least", amount="900000"), {"big", "mid"}),
        (RuleIn(0, "arr_below", amount="900000"), {"small", "bare"}),
    ],
)
def test_each_rule_kind(session: Session, book: dict[str, int], rule: RuleIn, matches: set[str]) -> None:
    given = RuleIn(book["adoption"], rule.rule, values=rule.values, key=rule.key, amount=rule.amount)
    assignments.replace(session, [given], actor="admin@example.com", now=AS_OF)
    on = {name for name, model in _primary(session, book).items() if model == book["adoption"]}
    assert on == matches


def test_an_account_whose_segment_changes_moves(session: Session, book: dict[str, int]) -> None:
    from app.models import Account

    assignments.replace(
        session,
        [RuleIn(book["adoption"], "segment", values=["enterprise"])],
        actor="admin@example.com",
        now=AS_OF,
    )
    account = session.get(Account, book["mid"])
    assert account is not None
    account.segment = "enterprise"
    session.add(account)
    session.flush()
    assert _primary(session, book)["mid"] == book["adoption"]
    assignments.replace(session, [], actor="admin@example.com", now=AS_OF)
    assert _primary(session, book)["mid"] == book["abc"]


def test_bad_rules_are_refused_naming_the_field(session: Session, book: dict[str, int]) -> None:
    with pytest.raises(InvalidInput) as caught:
        assignments.check(
            session,
            [
                RuleIn(book["adoption"], "segment", values=["galactic"]),
                RuleIn(999_999, "plan", values=["pro"]),
                RuleIn(book["adoption"], "trait", key="a.b", values=["x"]),
                RuleIn(book["adoption"], "arr_below", amount="-1"),
                RuleIn(book["adoption"], "industry", values=[]),
                RuleIn(book["adoption"], "colour", values=["red"]),
            ],
        )
    assert {e.field for e in caught.value.errors} == {
        "assignments.0.values.0",
        "assignments.1.model_id",
        "assignments.2.key",
        "assignments.3.amount",
        "assignments.4.values",
        "assignments.5.rule",
    }
