"""The validation protocol: reference dates, the out-of-time split, and a proposal laid over a
definition."""

from __future__ import annotations

import datetime as dt

from app.health.calibration import apply_model
from app.health.models import parse_definition
from app.health.samples import protocol
from app.health.spec import to_model_def
from app.scoring import presets
from app.scoring.health import Grading

TODAY = dt.date(2026, 11, 30)


def _grid(n: int, cadence: int = 14) -> list[dt.date]:
    return sorted(TODAY - dt.timedelta(days=cadence * k) for k in range(n))


def test_the_test_set_is_the_newest_third_and_training_outcomes_were_known_before_it() -> None:
    proto = protocol(_grid(40), horizon_days=90, cadence_days=14, today=TODAY)

    assert all(d + dt.timedelta(days=90) <= TODAY for d in proto.reference_dates)
    assert proto.test_dates == proto.reference_dates[-len(proto.test_dates) :]
    assert len(proto.test_dates) == len(proto.reference_dates) // 3
    assert proto.gap and proto.train_dates
    assert all(d + dt.timedelta(days=90) <= proto.test_dates[0] for d in proto.train_dates)
    assert max(proto.train_dates) < min(proto.test_dates)


def test_a_longer_horizon_leaves_out_the_dates_whose_outcome_is_unknown() -> None:
    short = protocol(_grid(40), horizon_days=30, cadence_days=14, today=TODAY)
    long = protocol(_grid(40), horizon_days=180, cadence_days=14, today=TODAY)

    assert max(short.reference_dates) == TODAY - dt.timedelta(days=14 * 3)
    assert max(long.reference_dates) == TODAY - dt.timedelta(days=14 * 13)
    assert len(long.reference_dates) < len(short.reference_dates)


def test_a_short_history_trains_on_every_older_date_and_says_there_is_no_gap() -> None:
    proto = protocol(_grid(14), horizon_days=90, cadence_days=14, today=TODAY)

    assert not proto.gap
    assert proto.train_dates == proto.reference_dates[: -len(proto.test_dates)]
    assert len(protocol(_grid(8), horizon_days=90, cadence_days=14, today=TODAY).train_dates) == 0


def test_a_proposal_changes_only_gradings_weights_and_band_cuts() -> None:
    definition = presets.abc()
    model = to_model_def(parse_definition(definition))
    group = model.groups[0]
    measure = group.measures[1]
    changed = measure.__class__(
        **{**vars(measure), "weight": 2.5, "grading": Grading("thresholds", good=12, normal=6)}
    )
    new_group = group.__class__(
        **{**vars(group), "weight": 4.0, "measures": (group.measures[0], changed, group.measures[2])}
    )
    proposed = model.__class__(
        **{**vars(model), "band_normal": 35.0, "groups": (new_group, *model.groups[1:])}
    )

    out = apply_model(definition, proposed)

    assert out["band_normal"] == 35.0 and out["band_good"] == definition["band_good"]
    assert out["groups"][0]["weight"] == 4.0
    active = out["groups"][0]["measures"][1]
    assert active["grading"] == {"kind": "thresholds", "good": 12, "normal": 6}
    assert active["weight"] == 2.5
    assert active["source"] == definition["groups"][0]["measures"][1]["source"]
    assert out["groups"][1:] == [
        {**g, "weight": 1.0, "measures": [{**m, "weight": 1.0} for m in g["measures"]]}
        for g in definition["groups"][1:]
    ]
    parse_definition(out)
