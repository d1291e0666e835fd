"""Models per segment: the ordered rules that give each account its primary health model.

An admin keeps an ordered list of rules, each naming a health model. The first rule an account
matches gives its primary model; an account matching none is on the default model. Every reader
of "the account's score" (the portfolio, the account page, signals and the onboarding and
large-drop checks, priorities, KPIs, interventions, the timeline, the API) reads it under the
account's primary model.

The rule vocabulary (a code and its parameters, stored as such):

* ``segment`` — ``{"values": ["enterprise", ...]}``: the account's segment is one of these;
* ``industry`` — ``{"values": [...]}``: its industry is one of these (exact names);
* ``plan`` — ``{"values": [...]}``: its plan is one of these (exact names);
* ``trait`` — ``{"key": "tier", "values": ["gold", ...]}``: the account trait ``key`` holds
  one of these texts (a text trait, or a whole number written in digits; a missing trait, a
  boolean or a document does not match);
* ``arr_at_least`` — ``{"amount": "1000000"}``: ARR ≥ the amount (in the account's currency);
* ``arr_below`` — ``{"amount": "1000000"}``: ARR < the amount.

The primary model is computed in SQL from the rules, not stored on the account: the list is
short, so a ``CASE`` over the account's own columns costs next to nothing even on 20,000
accounts, and no path that changes an account (the API, Segment group calls through their
hand-written statements, the CSV import, the demo) has to keep a copy up to date: an account
whose segment changes is on its new model at the next read, and so is every account when the
rules change.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, case, delete, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from app.accounts.service import get_account
from app.db import table_of
from app.errors import FieldError, InvalidInput, NotFound
from app.health import models as health_models
from app.health.schemas import AssignmentPublic, AssignmentsPublic, ModelBrief, PrimaryModelPublic
from app.models import (
    ASSIGNMENT_RULES,
    SEGMENTS,
    Account,
    HealthModel,
    HealthModelAssignment,
    HealthModelVersion,
)

ACCOUNT = table_of(Account)
VERSION = table_of(HealthModelVersion)

#: Rules whose parameter is a list of values, and the ARR rules (an amount).
VALUE_RULES = ("segment", "industry", "plan", "trait")
AMOUNT_RULES = ("arr_at_least", "arr_below")
MAX_RULES = 100
MAX_VALUES = 50
MAX_VALUE_LENGTH = 100
#: A trait key: letters, digits, ``_`` and ``-`` (it becomes part of a JSON path).
TRAIT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_AMOUNT = Decimal("9999999999999999.99")


@dataclass(frozen=True)
class RuleIn:
    """A rule as given (by the API or the settings page), before it is checked."""

    model_id: int
    rule: str
    values: Sequence[str] | None = None
    key: str | None = None
    amount: Decimal | str | None = None


@dataclass(frozen=True)
class Rule:
    """A stored rule: its 1-based position in the list, its model, its code and parameters."""

    position: int
    model_id: int
    model_name: str
    rule: str
    params: Mapping[str, Any]

    @property
    def values(self) -> list[str]:
        return list(self.params.get("values") or [])

    @property
    def key(self) -> str | None:
        return self.params.get("key")

    @property
    def amount(self) -> Decimal | None:
        amount = self.params.get("amount")
        return None if amount is None else Decimal(str(amount))

    def condition(self) -> ColumnElement[bool]:
        """The rule as a condition on the ``account`` table's columns."""
        a = ACCOUNT.c
        if self.rule == "segment":
            return a.segment.in_(self.values)
        if self.rule == "industry":
            return a.industry.in_(self.values)
        if self.rule == "plan":
            return a.plan.in_(self.values)
        if self.rule == "trait":
            return a.traits[self.key].as_string().in_(self.values)
        if self.rule == "arr_at_least":
            return a.arr >= self.amount
        return a.arr < self.amount

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "model_id": self.model_id, "rule": self.rule, **self.params}


@dataclass(frozen=True)
class Assignments:
    """The rules in order and the default model: everything that decides primary models."""

    rules: tuple[Rule, ...]
    default_id: int | None
    #: Every version's id of each model in use (the default's and the rules'), oldest first.
    version_ids: Mapping[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        """Every account is on the default model (no rules)."""
        return not self.rules

    @property
    def model_ids(self) -> list[int]:
        """The models in use: the default's first, then each rule's, once each."""
        ids = [self.default_id] if self.default_id is not None else []
        for rule in self.rules:
            if rule.model_id not in ids:
                ids.append(rule.model_id)
        return ids

    def per_account(self, by_model: Mapping[int, Any]) -> Any:
        """A SQL expression over the ``account`` table: ``by_model[m]`` for each account's primary
        model ``m`` (NULL where the model has no entry). With no rules it is the default's value."""
        fallback = by_model.get(self.default_id) if self.default_id is not None else None
        if self.single:
            return literal(fallback)
        return case(
            *[(rule.condition(), literal(by_model.get(rule.model_id))) for rule in self.rules],
            else_=literal(fallback),
        )

    def model_column(self) -> Any:
        """Each account's primary model id, as a SQL expression over the ``account`` table."""
        return self.per_account({m: m for m in self.model_ids})

    def all_version_ids(self) -> list[int]:
        return [v for ids in self.version_ids.values() for v in ids]

    def own_snapshot(self, version_column: Any) -> Any:
        """A condition on a snapshot's version column: the snapshot is of the account's primary
        model. With rules the query must have the ``account`` table joined (the rules read it)."""
        if self.single:
            return version_column.in_(list(self.version_ids.get(self.default_id or 0, ())))
        model_of_version = {v: m for m, ids in self.version_ids.items() for v in ids}
        return and_(
            version_column.in_(list(model_of_version)),
            case(model_of_version, value=version_column) == self.model_column(),
        )

    def rule_column(self) -> Any:
        """The position of the rule each account matches first (0: none, the default model)."""
        if self.single:
            return literal(0)
        return case(*[(rule.condition(), literal(rule.position)) for rule in self.rules], else_=literal(0))


def load(session: Session) -> Assignments:
    """The rules in order, with the default model's id."""
    rows = session.execute(
        select(HealthModelAssignment, col(HealthModel.name))
        .join(HealthModel, col(HealthModel.id) == col(HealthModelAssignment.model_id))
        .order_by(col(HealthModelAssignment.position))
    ).all()
    rules = tuple(
        Rule(i, row.model_id, name, row.rule, dict(row.params or {})) for i, (row, name) in enumerate(rows, 1)
    )
    default = health_models.default_model(session)
    found = Assignments(rules, default.id if default is not None else None)
    in_use = found.model_ids
    version_ids: dict[int, list[int]] = {m: [] for m in in_use}
    if in_use:
        for model_id, version_id in session.execute(
            select(VERSION.c.model_id, VERSION.c.id)
            .where(VERSION.c.model_id.in_(in_use))
            .order_by(VERSION.c.version)
        ).all():
            version_ids[model_id].append(version_id)
    return Assignments(rules, found.default_id, {m: tuple(ids) for m, ids in version_ids.items()})


def primary_models(session: Session, account_ids: Sequence[int] | None = None) -> dict[int, int | None]:
    """Every account's (or the given ones') primary model id, in one query."""
    assignments = load(session)
    query = select(ACCOUNT.c.id, assignments.model_column().label("model_id"))
    if account_ids is not None:
        if not account_ids:
            return {}
        query = query.where(ACCOUNT.c.id.in_(list(account_ids)))
    return {account_id: model_id for account_id, model_id in session.execute(query).all()}


@dataclass(frozen=True)
class Primary:
    """An account's primary model and why: the rule it matched first (None: the default)."""

    model: HealthModel | None
    rule: Rule | None


def primary_of(session: Session, account_id: int) -> Primary:
    """One account's primary model and the rule that gave it."""
    assignments = load(session)
    position = session.execute(
        select(assignments.rule_column()).select_from(ACCOUNT).where(ACCOUNT.c.id == account_id)
    ).scalar()
    rule = assignments.rules[position - 1] if position else None
    model_id = rule.model_id if rule is not None else assignments.default_id
    return Primary(session.get(HealthModel, model_id) if model_id is not None else None, rule)


def _values(item: RuleIn, at: str, errors: list[FieldError]) -> list[str]:
    values = []
    for j, value in enumerate(item.values or []):
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > MAX_VALUE_LENGTH or "\x00" in text:
            errors.append(FieldError(f"{at}.values.{j}", f"must be 1–{MAX_VALUE_LENGTH} characters"))
        elif item.rule == "segment" and text not in SEGMENTS:
            errors.append(FieldError(f"{at}.values.{j}", f"must be one of {', '.join(SEGMENTS)}"))
        elif text not in values:
            values.append(text)
    if not item.values:
        errors.append(FieldError(f"{at}.values", "give at least one value"))
    elif len(item.values) > MAX_VALUES:
        errors.append(FieldError(f"{at}.values", f"at most {MAX_VALUES} values"))
    return values


def _amount(item: RuleIn, at: str, errors: list[FieldError]) -> str | None:
    try:
        amount = Decimal(str(item.amount).strip()) if item.amount is not None else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:
        errors.append(FieldError(f"{at}.amount", "give an amount of at least 0"))
        return None
    return str(amount.quantize(Decimal("0.01")))


def check(
    session: Session, items: Sequence[RuleIn], *, field: str = "assignments"
) -> list[tuple[int, str, dict[str, Any]]]:
    """The rules checked: (model id, code, parameters) each; 422 naming every bad field."""
    errors: list[FieldError] = []
    if len(items) > MAX_RULES:
        raise InvalidInput.field(field, f"at most {MAX_RULES} rules")
    checked = []
    for i, item in enumerate(items):
        at = f"{field}.{i}"
        if session.get(HealthModel, item.model_id) is None:
            errors.append(FieldError(f"{at}.model_id", f"no health model {item.model_id}"))
        elif health_models.published_version(session, item.model_id) is None:
            errors.append(FieldError(f"{at}.model_id", "the model has no published version"))
        params: dict[str, Any] = {}
        if item.rule not in ASSIGNMENT_RULES:
            errors.append(FieldError(f"{at}.rule", f"must be one of {', '.join(ASSIGNMENT_RULES)}"))
        elif item.rule in VALUE_RULES:
            if item.rule == "trait":
                key = (item.key or "").strip()
                if not TRAIT_KEY.match(key):
                    errors.append(FieldError(f"{at}.key", "give a trait name of letters, digits, _ or -"))
                params["key"] = key
            params["values"] = _values(item, at, errors)
        else:
            params["amount"] = _amount(item, at, errors)
        checked.append((item.model_id, item.rule, params))
    if errors:
        raise InvalidInput(errors)
    return checked


def replace(session: Session, items: Sequence[RuleIn], *, actor: str, now: dt.datetime) -> Assignments:
    """Replace the whole ordered list (an empty list puts every account on the default model)."""
    checked = check(session, items)
    session.execute(delete(HealthModelAssignment))
    for position, (model_id, rule, params) in enumerate(checked, 1):
        session.add(
            HealthModelAssignment(
                position=position,
                model_id=model_id,
                rule=rule,
                params=params,
                created_by=actor,
                created_at=now,
            )
        )
    session.flush()
    return load(session)


def model_or_primary(session: Session, *, account_id: int, model_id: int | None) -> HealthModel:
    """The model asked for, else the account's primary model."""
    if model_id is not None:
        return health_models.get_model(session, model_id)
    model = primary_of(session, account_id).model
    if model is None:
        raise NotFound("no health model exists yet: adopt a preset (POST /api/v1/health-models)")
    return model


def rule_public(rule: Rule) -> AssignmentPublic:
    return AssignmentPublic(
        position=rule.position,
        model=ModelBrief(id=rule.model_id, name=rule.model_name),
        rule=rule.rule,
        values=rule.values if rule.rule in VALUE_RULES else None,
        key=rule.key,
        amount=rule.amount,
    )


def listing(session: Session) -> AssignmentsPublic:
    """The rules in order and the default model, as the API shows them."""
    found = load(session)
    default = session.get(HealthModel, found.default_id) if found.default_id is not None else None
    return AssignmentsPublic(
        default_model=ModelBrief(id=default.id or 0, name=default.name) if default is not None else None,
        assignments=[rule_public(r) for r in found.rules],
    )


def primary_public(session: Session, account_id: int) -> PrimaryModelPublic | None:
    """The account's primary model and the rule that gave it, as the API shows them."""
    primary = primary_of(session, account_id)
    if primary.model is None:
        return None
    return PrimaryModelPublic(
        id=primary.model.id or 0,
        name=primary.model.name,
        rule=rule_public(primary.rule) if primary.rule is not None else None,
    )


def account_primary(session: Session, external_id: str) -> PrimaryModelPublic:
    """The primary model of the account with this id, and why; 404 if none exists yet."""
    account = get_account(session, external_id)
    found = primary_public(session, account.id or 0)
    if found is None:
        raise NotFound("no health model exists yet: adopt a preset (POST /api/v1/health-models)")
    return found
