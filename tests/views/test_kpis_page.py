"""The KPI page (/kpis) in both languages, its htmx fragment, and the CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient

from app.i18n import L10n
from app.scoring.kpis import DEFINITIONS, KPI_KEYS
from app.views.kpis import bar_chart, format_value
from tests.views.conftest import HTML, HX
from tests.views.data import OTHER_CSM, TZ, Book


def test_signed_out_readers_are_sent_to_sign_in(client: TestClient, book: Book) -> None:
    response = client.get("/kpis", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/kpis"


def test_the_page_shows_each_kpi_with_its_definition(viewer: TestClient) -> None:
    response = viewer.get("/kpis", headers=HTML)

    assert response.status_code == 200
    assert response.template.name == "kpis/index.html"  # type: ignore[attr-defined]
    context = response.context  # type: ignore[attr-defined]
    cards = {c["key"]: c for c in context["cards"]}
    assert list(cards) == list(KPI_KEYS)
    assert cards["nps"]["definition"] == DEFINITIONS["nps"]
    # The book: one NPS response of 9 this month (a promoter), a meeting with Acme 3 days ago.
    assert cards["nps"]["value"] == "+100.0"
    assert cards["coverage"]["value"] == "20.0%"  # 1 of 5 active accounts
    assert cards["renewal_rate"]["value"] == "—"  # no renewal fell due: no division by zero
    assert len(context["trend_rows"]) == 12
    text = response.text
    assert 'href="/kpis/interventions"' in text and 'aria-current="page"' in text
    assert "Net Promoter Score (NPS)" in text and DEFINITIONS["coverage"] in text
    assert 'href="/kpis.csv?table=nps"' in text
    assert context["report"].model_name == "ABC health"


def test_the_page_in_japanese(as_user: Callable[[str], TestClient]) -> None:
    response = as_user(OTHER_CSM).get("/kpis", params={"period": "2026-Q4"}, headers=HTML)

    assert response.status_code == 200
    text = response.text
    assert "チーム KPI" in text and "2026年 第4四半期" in text
    assert "ネットプロモータースコア: 期間内の NPS 回答のうち推奨者" in text
    assert "Net Promoter Score" not in text
    assert "2026年10月" in text  # the period picker's months


def test_every_definition_has_a_japanese_translation() -> None:
    ja = L10n("ja", TZ)
    for key, definition in DEFINITIONS.items():
        assert ja.gettext(definition) != definition, key


def test_an_htmx_filter_returns_the_results_and_the_canonical_url(csm: TestClient) -> None:
    response = csm.get(
        "/kpis",
        params={
            "period": "2026-10",
            "from": "2026-10-01",
            "to": "",
            "segment": "enterprise",
            "owner": "",
            "industry": "",
            "tier": "",
        },
        headers=HX,
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="results"')
    # The picked month wins over the form's dates; empty filters leave the URL.
    assert response.headers["HX-Push-Url"] == "/kpis?period=2026-10&segment=enterprise"
    assert response.context["report"].accounts == 2  # type: ignore[attr-defined]
    ranged = csm.get(
        "/kpis", params={"period": "range", "from": "2026-10-01", "to": "2026-10-10"}, headers=HX
    )
    assert ranged.headers["HX-Push-Url"] == "/kpis?from=2026-10-01&to=2026-10-10"
    half = csm.get("/kpis", params={"period": "range", "from": "2026-10-01", "to": ""}, headers=HX)
    assert half.context["errors"] == []  # type: ignore[attr-defined]
    assert half.headers["HX-Push-Url"] == "/kpis"


def test_bad_filters_show_a_notice_and_this_month(csm: TestClient) -> None:
    response = csm.get("/kpis", params={"period": "2026-13", "tier": "9"}, headers=HTML)

    assert response.status_code == 200
    assert response.context["errors"] == ["period: not a month", "tier: must be 1, 2, 3 or 4"]  # type: ignore[attr-defined]
    assert response.context["report"].current.period.key == "2026-11"  # type: ignore[attr-defined]
    assert "Some filters were not understood" in response.text
    far = csm.get("/kpis", params={"period": "0001-01"}, headers=HTML)  # the trend would pass year 1
    assert far.status_code == 200
    assert far.context["errors"] == ["period: must lie within the years 1900–9998"]  # type: ignore[attr-defined]
    older = csm.get("/kpis", params={"period": "2024-03"}, headers=HTML)  # before the picker's range
    assert '<option value="2024-03" selected>March 2024</option>' in older.text


def _csv(response_text: str) -> list[list[str]]:
    assert response_text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(response_text[1:])))


def test_csv_exports(csm: TestClient) -> None:
    nps = csm.get("/kpis.csv", params={"table": "nps"})
    assert nps.status_code == 200
    assert nps.headers["content-type"].startswith("text/csv")
    assert nps.headers["content-disposition"] == 'attachment; filename="kpis-nps-2026-11.csv"'
    rows = _csv(nps.text)
    assert rows[0] == ["account_id", "account_name", "on", "score", "comment"]
    assert rows[1:] == [["acme", "Acme Corporation", "2026-11-03", "9", ""]]

    trend = _csv(csm.get("/kpis.csv", params={"table": "trend", "period": "2026-Q4"}).text)
    assert len(trend) == 13 and trend[0][:4] == ["period", "start", "end", "renewal_rate"]
    assert [r[0] for r in trend[1:3]] == ["2024-Q1", "2024-Q2"]
    last = dict(zip(trend[0], trend[-1], strict=True))
    assert (last["period"], last["nps"], last["nps_denominator"]) == ("2026-Q4", "100.0", "1")
    assert last["renewal_rate"] == ""  # none due

    renewals = _csv(csm.get("/kpis.csv", params={"table": "renewals"}).text)
    assert renewals == [["account_id", "account_name", "on", "outcome", "arr_before", "arr_after"]]
    assert csm.get("/kpis.csv", params={"table": "secrets"}, headers=HTML).status_code == 422


def test_value_formatting_and_bars() -> None:
    en, ja = L10n("en", TZ), L10n("ja", TZ)
    assert format_value(en, 0.8043, "ratio") == "80.4%"
    assert format_value(ja, 1.2346, "ratio") == "123.5%"
    assert format_value(en, -2.345, "points") == "−2.3"
    assert format_value(en, 0.0, "nps") == "±0.0"
    assert format_value(en, None, "ratio") == "—"
    chart = bar_chart([0.5, None, 1.0], ["a", "b", "c"], floor=1.0, width=30, height=24)
    assert [b.label for b in chart.bars] == ["a", "c"]  # no bar where there is no value
    assert chart.bars[1].height == 20.0 and chart.bars[0].height == 10.0
    mixed = bar_chart([10.0, -10.0], ["up", "down"], width=20, height=24)
    assert mixed.zero == 12.0
    assert (mixed.bars[0].y, mixed.bars[1].y, mixed.bars[1].negative) == (2.0, 12.0, True)
