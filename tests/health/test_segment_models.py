"""Models per segment, end to end on a small book: enterprise accounts on the Adoption model,
SMB accounts on ABC. Every reader takes each account's own model: its score, its line for the
day-90 check, its scale for the large-drop check; changing the rules or an account's segment
moves it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.accounts import portfolio
from app.health import assignments, reading
from app.health import models as health_models
from app.health.assignments import RuleIn
from app.lifecycle import stages
from app.models import Account, ScoreSnapshot
from app.priorities import service as priorities
from tests.builders import AS_OF, make_account

TZ = ZoneInfo("Asia/Tokyo")
TODAY = AS_OF.astimezone(TZ).date()
#: Scores stored a week ago and today, per account and model (ABC 0–100, Adoption 0–4).
SCORES = {
    # Enterprise: fine on ABC, below the 1.5 line and fallen 0.7 (≥ 15 % of 4) on Adoption.
    "ent": {"abc": (80.0, 80.0), "adoption": (2.5, 1.2)},
    # SMB: below ABC's normal cut (40) and fallen 30 points; fine and steady on Adoption.
    "small": {"abc": (70.0, 30.0), "adoption": (3.0, 3.0)},
}


def _band(model: str, score: float) -> str:
    if model == "adoption":
        return "good" if score >= 3 else "normal" if score >= 1.5 else "bad"
    return "good" if score >= 70 else "normal" if score >= 40 else "bad"


@pytest.fixture
def book(session: Session) -> dict[str, int]:
    abc, abc_version = health_models.adopt_preset(session, preset="abc", now=AS_OF)
    adoption, adoption_version = health_models.adopt_preset(session, preset="adoption", now=AS_OF)
    versions = {"abc": abc_version.id, "adoption": adoption_version.id}
    measures = {
        name: sum(len(g["measures"]) for g in v.definition["groups"])
        for name, v in (("abc", abc_version), ("adoption", adoption_version))
    }
    ids = {"abc": abc.id or 0, "adoption": adoption.id or 0}
    for external_id, segment in (("ent", "enterprise"), ("small", "smb")):
        account = make_account(
            session,
            id=external_id,
            name=external_id.title(),
            segment=segment,
            contract_start_on=TODAY - dt.timedelta(days=100),  # in the day-90 window
        )
        assert account.id is not None
        ids[external_id] = account.id
        for model, (before, now) in SCORES[external_id].items():
            for day, score in ((TODAY - dt.timedelta(days=7), before), (TODAY, now)):
                session.add(
                    ScoreSnapshot(
                        account_id=account.id,
                        model_version_id=versions[model],
                        day=day,
                        score=score,
                        band=_band(model, score),
                        measure_values=[None] * measures[model],
                        computed_at=AS_OF,
                    )
                )
    session.flush()
    return ids


def _signals(session: Session) -> dict[str, dict[str, dict]]:
    assessed = stages.assess(session, at=AS_OF, tz=TZ)
    return {
        a.facts.external_id: {
            s.kind: s.data for s in a.signals if s.kind in ("onboarding_checkpoint", "score_drop")
        }
        for a in assessed.values()
    }


def _on_segments(session: Session, book: dict[str, int]) -> None:
    assignments.replace(
        session,
        [RuleIn(book["adoption"], "segment", values=["enterprise"])],
        actor="admin@example.com",
        now=AS_OF,
    )


def test_without_rules_every_check_reads_the_default_model(session: Session, book: dict[str, int]) -> None:
    signals = _signals(session)
    assert signals["ent"] == {}
    assert signals["small"]["onboarding_checkpoint"]["line"] == 40.0
    assert signals["small"]["score_drop"]["limit"] == 15.0


def test_each_account_is_checked_against_its_own_models_line(session: Session, book: dict[str, int]) -> None:
    _on_segments(session, book)
    signals = _signals(session)
    assert signals["ent"]["onboarding_checkpoint"] == {"tenure_days": 100, "score": 1.2, "line": 1.5}
    assert signals["ent"]["score_drop"]["limit"] == 0.6 and signals["ent"]["score_drop"]["from"] == 2.5
    assert set(signals["small"]) == {"onboarding_checkpoint", "score_drop"}  # still on ABC
    assert signals["small"]["onboarding_checkpoint"]["line"] == 40.0


def test_priorities_read_each_accounts_own_score(session: Session, book: dict[str, int]) -> None:
    _on_segments(session, book)
    computed = priorities.compute(session, week="2026-W48", tz=TZ)
    assert computed.context[book["ent"]]["score"] is not None
    week_scores = {a: c["score"] for a, c in computed.context.items()}
    assert week_scores[book["ent"]] in (1.2, 2.5)  # Adoption's scale, as of the week's Monday
    assert week_scores[book["small"]] in (30.0, 70.0)


def test_the_portfolio_and_health_read_each_accounts_own_model(
    session: Session, book: dict[str, int]
) -> None:
    _on_segments(session, book)
    page = portfolio.load_portfolio(session, filters=portfolio.PortfolioFilters(), now=AS_OF)
    rows = {r.account.external_id: r for r in page.rows}
    assert (rows["ent"].score, rows["ent"].band, rows["ent"].scale_max) == (1.2, "bad", 4.0)
    assert rows["ent"].model_name == "Adoption score (0–4)" and rows["ent"].trend == [2.5, 1.2]
    assert (rows["small"].score, rows["small"].band, rows["small"].model_name) == (30.0, "bad", "ABC health")
    # The band filter and the score sort read the own model's band and the share of its scale.
    bad = portfolio.load_portfolio(session, filters=portfolio.PortfolioFilters(band="bad"), now=AS_OF)
    assert {r.account.external_id for r in bad.rows} == {"ent", "small"}
    ranked = portfolio.load_portfolio(session, filters=portfolio.PortfolioFilters(sort="-score"), now=AS_OF)
    assert [r.account.external_id for r in ranked.rows] == ["ent", "small"]  # 1.2/4 = 30 % = 30/100

    current = reading.current_health(session, account_id="ent", model_id=None, today=TODAY, tz=TZ)
    assert (current.model.preset, current.score, current.scale_max, current.change_week) == (
        "adoption",
        1.2,
        4,
        -1.3,
    )
    model, points, _ = reading.health_history(
        session, account_id="ent", model_id=None, start=TODAY - dt.timedelta(days=30), end=TODAY
    )
    assert model.preset == "adoption" and [p.score for p in points] == [2.5, 1.2]
    _, _, _, bulk = reading.bulk_health(
        session, model_id=None, band=None, owner=None, limit=10, after_account=None
    )
    assert {(r.account.external_id, r.snapshot.score, r.model.preset if r.model else None) for r in bulk} == {
        ("ent", 1.2, "adoption"),
        ("small", 30.0, "abc"),
    }


def test_changing_the_rules_or_the_segment_moves_accounts(session: Session, book: dict[str, int]) -> None:
    _on_segments(session, book)
    account = session.get(Account, book["small"])
    assert account is not None
    account.segment = "enterprise"
    session.add(account)
    session.flush()
    signals = _signals(session)
    assert signals["small"] == {}  # 3.0 on Adoption: above the line, steady
    page = portfolio.load_portfolio(session, filters=portfolio.PortfolioFilters(), now=AS_OF)
    assert {r.account.external_id: r.score for r in page.rows} == {"ent": 1.2, "small": 3.0}

    assignments.replace(session, [], actor="admin@example.com", now=AS_OF)
    page = portfolio.load_portfolio(session, filters=portfolio.PortfolioFilters(), now=AS_OF)
    assert {r.account.external_id: r.score for r in page.rows} == {"ent": 80.0, "small": 30.0}
    assert all(r.model_name is None for r in page.rows)
