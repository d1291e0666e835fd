"""Intervention effectiveness read from stored scores: a small book with hand-set scores.

Ten smb accounts, all "bad" (score 30) on Monday 1 June 2026. Five had a training on 2 June; on
29 June (the 30-day follow-up: 1 June + 30 = 1 July, the nearest score day within 3 days) they
score 35–39 (changes +5 … +9), the five others 30–34 (+0 … +4). The same scores stand on 3 August
(the 60-day follow-up, 3 days off 31 July). One enterprise account had a training too but has no
comparable account: unmatched.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.analytics import interventions as svc
from app.errors import InvalidInput
from app.health import models as health_models
from app.models import Account, ScoreSnapshot, Task
from tests.builders import AS_OF, make_account, make_interaction, make_user

TZ = ZoneInfo("Asia/Tokyo")
D1 = dt.date(2026, 6, 1)
DAY30 = dt.date(2026, 6, 29)
DAY60 = dt.date(2026, 8, 3)
WEEK_END = dt.date(2026, 6, 7)  # the period analysed: the week of 1 June


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ).astimezone(dt.UTC)


def _snapshot(
    session: Session, account: Account, version_id: int, day: dt.date, score: float, band: str = "bad"
) -> None:
    assert account.id is not None
    session.add(
        ScoreSnapshot(
            account_id=account.id,
            model_version_id=version_id,
            day=day,
            score=score,
            band=band,
            status="ok",
            measure_values=[],
            computed_at=AS_OF,
        )
    )


@pytest.fixture
def book(session: Session) -> dict[str, Account]:
    make_user(session, email="sato@example.com")
    _, version = health_models.adopt_preset(session, preset="minimal", now=AS_OF)
    assert version.id is not None
    accounts: dict[str, Account] = {}
    for i in range(5):
        treated = make_account(
            session, id=f"t{i}", name=f"Treated {i}", segment="smb", owner="sato@example.com"
        )
        control = make_account(session, id=f"c{i}", name=f"Control {i}", segment="smb")
        accounts[treated.external_id], accounts[control.external_id] = treated, control
        make_interaction(
            session, account=treated, type="training", occurred_at=_at(D1 + dt.timedelta(days=1))
        )
        for account, later in ((treated, 35 + i), (control, 30 + i)):
            _snapshot(session, account, version.id, D1, 30)
            _snapshot(session, account, version.id, DAY30, later)
            _snapshot(session, account, version.id, DAY60, later, band="normal")
    lone = make_account(session, id="e0", name="Enterprise", segment="enterprise")
    accounts["e0"] = lone
    make_interaction(session, account=lone, type="training", occurred_at=_at(D1 + dt.timedelta(days=3)))
    # registered for a webinar but did not come: not an intervention
    make_interaction(session, account=lone, type="webinar", occurred_at=_at(D1), attended=False)
    for day, score in ((D1, 50), (DAY30, 40), (DAY60, 40)):
        _snapshot(session, lone, version.id, day, score, band="normal")
    # a playbook action done on 3 June for t0
    assert accounts["t0"].id is not None
    session.add(
        Task(
            account_id=accounts["t0"].id,
            action="refresher_training",
            title="Retrain",
            due_on=D1,
            status="done",
            completed_at=_at(D1 + dt.timedelta(days=2)),
            created_at=AS_OF,
            updated_at=AS_OF,
        )
    )
    session.flush()
    return accounts


def _report(session: Session, **filters: object) -> svc.InterventionReport:
    values: dict[str, object] = {
        "start": D1,
        "end": WEEK_END,
        "window": None,
        "segment": None,
        "owner": None,
        **filters,
    }
    parsed = svc.parse_filters(session, today=AS_OF.date(), **values)  # type: ignore[arg-type]
    return svc.effectiveness(session, filters=parsed, tz=TZ)


def _row(report: svc.InterventionReport, window: int, key: str) -> svc.TypeEffect:
    found = next(w for w in report.windows if w.window == window)
    return next(r for r in found.rows if r.key == key)


def test_training_effect_by_hand(session: Session, book: dict[str, Account]) -> None:
    report = _report(session)
    assert [w.window for w in report.windows] == [30, 60]
    for window in (30, 60):
        row = _row(report, window, "training")
        e = row.effect
        # changes +5…+9 (mean 7) against +0…+4 (mean 2): +5; SE √(2.5/5 + 2.5/5) = 1, df 8
        assert (e.treated, e.controls, e.unmatched, e.strata) == (5, 5, 1, 1)
        assert e.effect == pytest.approx(5.0)
        assert e.std_error == pytest.approx(1.0)
        assert e.df == pytest.approx(8.0)
        assert (e.ci_low, e.ci_high) == (pytest.approx(2.694, abs=0.001), pytest.approx(7.306, abs=0.001))
        assert e.reading == "positive"
        assert row.events == 6  # five smb trainings and the enterprise one
    assert report.windows[0].anchors == 1 and report.windows[0].observations == 11


def test_other_types_have_no_treated(session: Session, book: dict[str, Account]) -> None:
    report = _report(session, window=30)
    meeting = _row(report, 30, "meeting")
    assert (meeting.events, meeting.effect.treated, meeting.effect.reading) == (0, 0, "insufficient")
    # the webinar the enterprise account did not attend is not an intervention
    assert _row(report, 30, "webinar").events == 0
    # a done playbook action is listed by its action; one treated → no interval
    action = _row(report, 30, "action:refresher_training")
    assert (action.kind, action.events, action.effect.treated) == ("action", 1, 1)
    assert action.effect.reading == "insufficient"
    assert "action:usage_campaign" not in {r.key for r in report.windows[0].rows}


def test_filters_narrow_the_accounts(session: Session, book: dict[str, Account]) -> None:
    enterprise = _report(session, segment="enterprise", window=30)
    training = _row(enterprise, 30, "training").effect
    assert (training.treated, training.unmatched, training.controls) == (0, 1, 0)
    owned = _report(session, owner="sato@example.com", window=30)
    # only the treated accounts are Sato's: no controls to compare with
    assert _row(owned, 30, "training").effect.unmatched == 5
    nobody = _report(session, owner="none", window=30)
    assert _row(nobody, 30, "training").effect.treated == 0


def test_breadth_vs_depth(session: Session, book: dict[str, Account]) -> None:
    report = _report(session, end=DAY30)
    bd = report.breadth_depth
    assert (bd.start, bd.end) == (D1, DAY30)
    zero, one, *_rest = bd.buckets
    # controls: no touch, +0…+4 → mean +2, total +10
    assert (zero.accounts, zero.scored, zero.mean_change, zero.total_change) == (5, 5, 2.0, 10.0)
    # treated smb (+5…+9) and the enterprise account (−10), one training each: total +25 over 6
    assert (one.accounts, one.scored, one.touches) == (6, 6, 6)
    assert one.total_change == pytest.approx(25.0)
    assert one.change_per_touch == pytest.approx(25 / 6)


def test_no_model_no_scores(session: Session) -> None:
    report = _report(session)
    assert report.model_id is None
    assert all(r.effect.treated == 0 for w in report.windows for r in w.rows)
    assert report.breadth_depth.start is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"start": dt.date(2026, 7, 1), "end": dt.date(2026, 6, 1)}, "from"),
        ({"start": dt.date(2025, 1, 1), "end": dt.date(2026, 6, 1)}, "from"),
        ({"window": 45}, "window"),
        ({"segment": "huge"}, "segment"),
        ({"owner": "nobody@example.com"}, "owner"),
    ],
)
def test_bad_filters_name_the_parameter(session: Session, values: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "start": None,
        "end": None,
        "window": None,
        "segment": None,
        "owner": None,
        **values,
    }
    with pytest.raises(InvalidInput) as caught:
        svc.parse_filters(session, today=AS_OF.date(), **base)  # type: ignore[arg-type]
    assert [e.field for e in caught.value.errors] == [field]


def test_default_period_is_half_a_year(session: Session) -> None:
    f = svc.parse_filters(
        session, start=None, end=None, window=None, segment="", owner=" ", today=dt.date(2026, 11, 23)
    )
    assert (f.start, f.end, f.windows, f.segment, f.owner) == (
        dt.date(2026, 5, 25),
        dt.date(2026, 11, 23),
        (30, 60),
        None,
        None,
    )


def test_arr_is_irrelevant_but_decimal_safe(session: Session, book: dict[str, Account]) -> None:
    book["t0"].arr = Decimal("1200000")
    session.flush()
    assert _row(_report(session), 30, "training").effect.effect == pytest.approx(5.0)
