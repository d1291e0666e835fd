"""Certification of customer users: the health measure source and the adoption report's line.

Acme has 10 licensed seats and four contacts. Ito earned level 3 on 1 October and level 1 on
10 November (best: 1); Kato level 2 on 1 November; Sato a certification without a level on
1 September; Mori, level 1 in October, left on 1 November (deleted contact: not counted). Beta's
only certification falls on 25 November, after the scoring date.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.accounts import service as accounts_svc
from app.health.spec import ModelSpec
from app.health.values import compute_values, load_accounts
from app.interactions import service as interactions_svc
from app.interactions.schemas import CertificationIn
from app.reports import adoption as adoption_svc
from app.reports import service as reports_svc
from tests.builders import AS_OF, make_account, make_contact

TZ = ZoneInfo("Asia/Tokyo")


def _certify(session: Session, account: str, email: str, day: dt.date, level: int | None) -> None:
    at = dt.datetime.combine(day, dt.time(11), tzinfo=TZ)
    interactions_svc.create_interactions(
        session,
        interactions_in=[
            CertificationIn(
                type="certification",
                account_id=account,
                occurred_at=at,
                contacts=[email],
                name="Certified user",
                level=level,
            )
        ],
        now=max(AS_OF, at),
    )


@pytest.fixture
def book(session: Session) -> None:
    make_account(session, id="acme", name="Acme", licensed_seats=10)
    make_account(session, id="beta", name="Beta")
    # The people have been contacts since the summer: past scoring dates see them.
    summer = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    for name in ("ito", "kato", "sato", "mori"):
        make_contact(session, account_id="acme", email=f"{name}@acme.example", name=name, now=summer)
    make_contact(session, account_id="beta", email="abe@beta.example", name="abe", now=summer)
    _certify(session, "acme", "ito@acme.example", dt.date(2026, 10, 1), 3)
    _certify(session, "acme", "ito@acme.example", dt.date(2026, 11, 10), 1)
    _certify(session, "acme", "kato@acme.example", dt.date(2026, 11, 1), 2)
    _certify(session, "acme", "sato@acme.example", dt.date(2026, 9, 1), None)
    _certify(session, "acme", "mori@acme.example", dt.date(2026, 10, 5), 1)
    # Mori left on 1 November: from then on (the scoring dates below) not counted.
    accounts_svc.delete_contact(
        session, account_id="acme", contact_id=_contact_id(session, "mori"),
        now=dt.datetime(2026, 11, 1, tzinfo=TZ),
    )
    _certify(session, "beta", "abe@beta.example", dt.date(2026, 11, 25), 1)
    session.flush()


def _contact_id(session: Session, name: str) -> int:
    from sqlmodel import select

    from app.models import Contact

    contact = session.exec(select(Contact).where(Contact.name == name)).one()
    assert contact.id is not None
    return contact.id


def _spec(*sources: dict[str, object]) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "groups": [
                {
                    "key": "g",
                    "name": "G",
                    "measures": [
                        {
                            "key": f"m{i}",
                            "name": f"M{i}",
                            "source": source,
                            "grading": {"kind": "thresholds", "good": 2, "normal": 1},
                        }
                        for i, source in enumerate(sources)
                    ],
                }
            ]
        }
    )


def test_certified_users_and_rate(session: Session, book: None) -> None:
    spec = _spec(
        {"type": "certification", "metric": "certified_users"},
        {"type": "certification", "metric": "certified_users", "max_level": 2},
        {"type": "certification", "metric": "certified_users", "max_level": 1},
        {"type": "certification", "metric": "certification_rate"},
    )
    values = compute_values(
        session, spec, accounts=load_accounts(session), as_of=dt.date(2026, 11, 23), tz=TZ
    )
    acme, beta = values.rows()
    # Ito (1), Kato (2), Sato (no level) → 3; level 2 or better: Ito, Kato; level 1: Ito;
    # 3 of 10 seats → 0.3
    assert acme == (3.0, 2.0, 1.0, 0.3)
    # Beta: its certification is after the day scored; no seat count → no rate
    assert beta == (0.0, 0.0, 0.0, None)


def test_before_the_second_certification_ito_counts_at_level_3(session: Session, book: None) -> None:
    spec = _spec({"type": "certification", "metric": "certified_users", "max_level": 2})
    values = compute_values(session, spec, accounts=load_accounts(session), as_of=dt.date(2026, 11, 5), tz=TZ)
    assert values.rows()[0] == (1.0,)  # Kato only


def test_the_source_refuses_a_bad_level() -> None:
    with pytest.raises(ValueError, match="max_level"):
        _spec({"type": "certification", "metric": "certified_users", "max_level": 0})


def test_adoption_report_has_the_certification_line(session: Session, book: None) -> None:
    report = adoption_svc.account_adoption(
        session,
        account_id="acme",
        start=dt.date(2026, 11, 1),
        end=dt.date(2026, 11, 30),
        today=dt.date(2026, 11, 23),
        tz=TZ,
    )
    c = report.certification
    assert c is not None
    # by 31 October: Ito (level 3 then), Sato → 2; by 30 November: Ito, Kato, Sato → 3
    assert (c.users, c.previous, c.change, c.rate) == (3, 2, 1, 0.3)
    assert c.by_level == ((1, 1), (2, 1), (None, 1))
    data = adoption_svc.as_json(report)
    assert data["certification"]["by_level"] == [[1, 1], [2, 1], [None, 1]]
    for language, line, level in (
        ("en", "Certified users", "Level 1: 1"),
        ("ja", "認定ユーザー", "レベル1: 1"),
    ):
        context = reports_svc.report_context(
            data, account_name="Acme", language=language, tz=TZ, message=None, link=None
        )
        rendered = reports_svc.render_email(context)
        assert line in rendered.html and level in rendered.html
        assert f"{line}: 3 / 10 (30%)" in rendered.text


def test_a_published_model_scores_with_the_source(session: Session, book: None) -> None:
    from app.health import models as health_models
    from app.health import scores as health_scores

    definition = _spec({"type": "certification", "metric": "certified_users", "max_level": 2}).model_dump(
        mode="json"
    )
    model, _ = health_models.create_model(
        session, name="Certified", definition=definition, now=AS_OF, publish=True
    )
    assert model.id is not None
    version = health_models.published_version(session, model.id)
    assert version is not None
    scored = health_scores.score_accounts(
        session, spec=health_models.parse_definition(version.definition), as_of=dt.date(2026, 11, 23), tz=TZ
    )
    by_account = {s.account.external_id: (s.score, s.band) for s in scored}
    # Acme: 2 users at level 2 or better → good (≥ 2) → 100; Beta: 0 → bad → 0
    assert by_account == {"acme": (100.0, "good"), "beta": (0.0, "bad")}
