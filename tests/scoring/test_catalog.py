import pytest

from app.scoring.catalog import Catalog, FeatureRule

CATALOG = Catalog([
    FeatureRule("reports", ("Report Created", "report.*"), is_key=True),
    FeatureRule("exports", ("report.exported", "Export *")),
    FeatureRule("docs", ("page:/docs*",)),
])


@pytest.mark.parametrize(
    ("event", "feature"),
    [
        ("Report Created", "reports"),
        ("report.viewed", "reports"),
        # An exact name beats an earlier feature's pattern.
        ("report.exported", "exports"),
        ("Export CSV", "exports"),
        ("page:/docs/start", "docs"),
        ("report", None),
        ("Login", None),
        ("report Created", None),  # case matters
    ],
)
def test_events_map_to_features(event: str, feature: str | None) -> None:
    assert CATALOG.feature_of(event) == feature


def test_key_features_in_catalog_order() -> None:
    assert CATALOG.key_features == ("reports",)


def test_earlier_pattern_wins_over_later_pattern() -> None:
    catalog = Catalog([FeatureRule("a", ("x.*",)), FeatureRule("b", ("x.y*",))])
    assert catalog.feature_of("x.yz") == "a"
