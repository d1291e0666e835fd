import pytest

from app.scoring.backtest import Observation, by_band, roc_auc


def obs(*pairs: tuple[float, bool]) -> list[Observation]:
    return [Observation(score, churned) for score, churned in pairs]


@pytest.mark.parametrize(
    ("observations", "auc"),
    [
        (obs((90, False), (80, False), (20, True), (10, True)), 1.0),
        (obs((90, True), (80, True), (20, False), (10, False)), 0.0),
        (obs((50, True), (50, False)), 0.5),
        # stayers 70, 40; churners 60, 30 → pairs (70>60, 70>30, 40<60, 40>30) = 3/4
        (obs((70, False), (40, False), (60, True), (30, True)), 0.75),
        # a tie between a stayer and a churner counts half: (50=50 → .5, 50>10 → 1) / 2
        (obs((50, False), (50, True), (10, True)), 0.75),
    ],
)
def test_roc_auc_by_hand(observations: list[Observation], auc: float) -> None:
    assert roc_auc(observations) == auc


def test_roc_auc_needs_both_outcomes() -> None:
    assert roc_auc(obs((1, False), (2, False))) is None
    assert roc_auc([]) is None


def test_churn_rate_and_lift_by_band() -> None:
    observations = [
        Observation(80, False, "good"), Observation(75, False, "good"),
        Observation(50, False, "normal"), Observation(45, True, "normal"),
        Observation(20, True, "bad"), Observation(10, True, "bad"),
    ]
    good, normal, bad = by_band(observations, ["good", "normal", "bad"])
    # overall churn 3/6 = 0.5
    assert (good.accounts, good.churned, good.churn_rate, good.lift) == (2, 0, 0.0, 0.0)
    assert (normal.churn_rate, normal.lift) == (0.5, 1.0)
    assert (bad.churn_rate, bad.lift) == (1.0, 2.0)
    assert by_band([], ["good"])[0].churn_rate is None
