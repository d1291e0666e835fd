"""Industry tiers from account history, manual overrides, and the tiering configuration.

The numbers come from two set-based queries over ``account_history`` (renewals with the ARR at
the start of the term each ended, and churns) grouped by the account's industry; the tiering is
the pure ``app.scoring.tiers``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from sqlalchemy import and_, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.db import dialect_insert, table_of
from app.errors import FieldError, InvalidInput, NotFound
from app.models import Account, AccountHistory, IndustryOverride, IndustryTierConfig
from app.scoring.tiers import (
    IndustryRecord,
    IndustryTier,
    Override,
    TierConfig,
    TierCut,
    tier_industries,
    window_start,
)


def _day(as_of: dt.date) -> dt.date:
    return as_of.date() if isinstance(as_of, dt.datetime) else as_of


def config_to_dict(config: TierConfig) -> dict[str, Any]:
    return asdict(config)


def config_from_dict(data: dict[str, Any]) -> TierConfig:
    defaults = TierConfig()
    cuts = tuple(TierCut(**c) for c in data["cuts"]) if "cuts" in data else defaults.cuts
    return TierConfig(
        lookback_months=int(data.get("lookback_months", defaults.lookback_months)),
        min_renewals_due=int(data.get("min_renewals_due", defaults.min_renewals_due)),
        cuts=cuts, target_tier=int(data.get("target_tier", defaults.target_tier)),
    )


def load_config(session: Session) -> TierConfig:
    """The newest saved tiering configuration, or the defaults."""
    row = session.exec(
        select(IndustryTierConfig).order_by(col(IndustryTierConfig.id).desc()).limit(1)
    ).first()
    return config_from_dict(row.definition) if row else TierConfig()


def save_config(session: Session, *, config: TierConfig, actor: str, now: dt.datetime) -> TierConfig:
    """Store a new configuration (the old ones stay as history); 422 naming each bad field."""
    errors = [FieldError(f, m) for f, m in config.problems()]
    if errors:
        raise InvalidInput(errors)
    session.add(IndustryTierConfig(definition=config_to_dict(config), created_by=actor,
                                   created_at=now))
    session.flush()
    return config


def industry_records(session: Session, *, start: dt.date, end: dt.date) -> list[IndustryRecord]:
    """Per industry: renewals and churns in ``[start, end]``, and the renewed ARR before/after."""
    h = aliased(AccountHistory)
    prior = aliased(AccountHistory)
    # The ARR at the start of the term a renewal ended: the previous contract start or renewal.
    term_start_arr = (
        sa_select(col(prior.arr_after))
        .where(col(prior.account_id) == h.account_id,
               col(prior.kind).in_(("contract_start", "renewal")),
               col(prior.occurred_on) < h.occurred_on, col(prior.arr_after).is_not(None))
        .order_by(col(prior.occurred_on).desc())
        .limit(1)
        .correlate(h)
        .scalar_subquery()
    )
    base = func.coalesce(term_start_arr, h.arr_before)
    known = and_(col(h.arr_after).is_not(None), base.is_not(None))
    industry = col(Account.industry)
    renewals = session.execute(
        sa_select(
            industry, func.count(),
            func.sum(case((known, base), else_=0)),
            func.sum(case((known, h.arr_after), else_=0)),
        )
        .select_from(h)
        .join(Account, col(Account.id) == h.account_id)
        .where(col(h.kind) == "renewal", col(h.occurred_on) >= start, col(h.occurred_on) <= end,
               industry.is_not(None), col(Account.status) != "deleted")
        .group_by(industry)
    ).all()
    churns: dict[str, int] = dict(session.execute(
        sa_select(industry, func.count())
        .select_from(AccountHistory)
        .join(Account, col(Account.id) == AccountHistory.account_id)
        .where(col(AccountHistory.kind) == "churn", col(AccountHistory.occurred_on) >= start,
               col(AccountHistory.occurred_on) <= end, industry.is_not(None),
               col(Account.status) != "deleted")
        .group_by(industry)
    ).all())
    known_industries = session.exec(
        select(industry).where(industry.is_not(None), col(Account.status) != "deleted").distinct()
    ).all()
    records = {name: IndustryRecord(industry=name) for name in known_industries if name}
    for name, count, arr_base, arr_renewed in renewals:
        assert name is not None
        records[name] = IndustryRecord(
            industry=name, renewed=int(count), arr_base=float(arr_base or 0),
            arr_renewed=float(arr_renewed or 0),
        )
    for name, count in churns.items():
        current = records.get(name, IndustryRecord(industry=name))
        records[name] = IndustryRecord(
            industry=name, renewed=current.renewed, churned=int(count),
            arr_base=current.arr_base, arr_renewed=current.arr_renewed,
        )
    return list(records.values())


def overrides(session: Session) -> dict[str, Override]:
    return {
        o.industry: Override(tier=o.tier, reason=o.reason, set_by=o.set_by, set_at=o.set_at)
        for o in session.exec(select(IndustryOverride)).all()
    }


def industry_tiers(
    session: Session, *, as_of: dt.date, config: TierConfig | None = None
) -> dict[str, IndustryTier]:
    """Every known industry's tier as of a day (a datetime counts as its UTC date), overrides
    applied; the saved configuration unless one is given."""
    end = _day(as_of)
    config = config or load_config(session)
    start = window_start(end, config.lookback_months)
    return tier_industries(
        industry_records(session, start=start, end=end), overrides=overrides(session),
        config=config, window=(start, end),
    )


def list_industries(session: Session, *, as_of: dt.date) -> list[IndustryTier]:
    """Industries best tier first (no tier last), then by name."""
    tiers = industry_tiers(session, as_of=as_of)
    return sorted(tiers.values(), key=lambda t: (t.tier or 5, t.industry))


def _require_industry(session: Session, name: str) -> None:
    used = session.exec(select(func.count()).select_from(Account).where(
        Account.industry == name, Account.status != "deleted")).one()
    stored = session.get(IndustryOverride, name)
    if not used and stored is None:
        raise NotFound(f"no account has industry {name!r}")


def set_override(
    session: Session, *, industry: str, tier: int, reason: str, actor: str, now: dt.datetime
) -> IndustryOverride:
    """Set an industry's tier by hand (replacing any earlier override), with who, when and why."""
    _require_industry(session, industry)
    values = {"industry": industry, "tier": tier, "reason": reason, "set_by": actor, "set_at": now}
    insert = dialect_insert(session, table_of(IndustryOverride)).values(values)
    # An upsert: two admins overriding at once both succeed, the later one wins.
    session.execute(insert.on_conflict_do_update(
        index_elements=["industry"], set_={k: v for k, v in values.items() if k != "industry"}
    ))
    row = session.exec(
        select(IndustryOverride).where(IndustryOverride.industry == industry)
        .execution_options(populate_existing=True)
    ).one()
    return row


def clear_override(session: Session, *, industry: str) -> None:
    """Remove an industry's override: its computed tier applies again; 404 if it had none."""
    row = session.get(IndustryOverride, industry)
    if row is None:
        raise NotFound(f"industry {industry!r} has no override")
    session.delete(row)
    session.flush()
