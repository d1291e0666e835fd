"""The intervention effectiveness page: tabs, tables per window, chart, breadth vs depth, filters
in place with the URL kept in sync, CSV export, Japanese."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.views.conftest import HTML, HX
from tests.views.data import Book

PATH = "/kpis/interventions"


def test_the_page_shows_both_windows_and_breadth_vs_depth(csm: TestClient, book: Book) -> None:
    page = csm.get(PATH, headers=HTML)

    assert page.status_code == 200, page.text
    assert page.template.name == "analytics/interventions.html"  # type: ignore[attr-defined]
    report = page.context["report"]  # type: ignore[attr-defined]
    assert [w.window for w in report.windows] == [30, 60]
    assert 'href="/kpis/interventions" aria-current="page"' in page.text  # the tabs
    assert "Score change 30 days after" in page.text and "Score change 60 days after" in page.text
    # five accounts: every type reads "not enough data"
    assert page.text.count("Not enough data") == sum(len(w.rows) for w in report.windows)
    assert "Breadth vs depth" in page.text and "Change per touch" in page.text
    # the definitions sit beside the numbers
    assert "95% confidence interval of the effect (Welch t)" in page.text
    assert f"{PATH}.csv?" in page.text


def test_filters_answer_with_the_fragment_and_push_the_url(admin: TestClient, book: Book) -> None:
    response = admin.get(
        PATH,
        params={"segment": "enterprise", "owner": "", "from": "2026-09-01", "to": "2026-11-23"},
        headers=HX,
    )

    assert response.status_code == 200
    assert "<html" not in response.text and 'id="results"' in response.text
    assert response.headers["HX-Push-Url"] == f"{PATH}?from=2026-09-01&to=2026-11-23&segment=enterprise"
    assert "HX-Request" in response.headers["Vary"]
    # unusable values fall back to the defaults on the page
    fallback = admin.get(PATH, params={"segment": "galactic", "from": "soon"}, headers=HX)
    assert fallback.status_code == 200
    assert fallback.headers["HX-Push-Url"].startswith(f"{PATH}?from=")
    assert "segment=" not in fallback.headers["HX-Push-Url"]
    # dates the windows would run past the calendar with fall back too (were a 500)
    far = admin.get(PATH, params={"from": "9999-12-01", "to": "9999-12-31"}, headers=HX)
    assert far.status_code == 200
    assert "9999" not in far.headers["HX-Push-Url"]


def test_csv_export_of_each_table(csm: TestClient, book: Book) -> None:
    effects = csm.get(f"{PATH}.csv", params={"table": "30"}, headers=HTML)
    assert effects.status_code == 200
    assert effects.headers["content-type"].startswith("text/csv")
    assert "attachment" in effects.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(effects.text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["type", "name", "window_days", "interventions", "effect"]
    assert [r[0] for r in rows[1:4]] == ["meeting", "call", "training"]
    assert all(r[2] == "30" for r in rows[1:])
    touches = csm.get(f"{PATH}.csv", params={"table": "touches"}, headers=HTML)
    rows = list(csv.reader(io.StringIO(touches.text.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3–4", "5+"]
    assert sum(int(r[1]) for r in rows[1:]) == 5
    assert csm.get(f"{PATH}.csv", params={"table": "90"}, headers=HTML).status_code == 404


def test_in_japanese(as_user: object, book: Book) -> None:
    from tests.views.data import OTHER_CSM

    client = as_user(OTHER_CSM)  # type: ignore[operator]
    page = client.get(PATH, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "施策の効果" in page.text and "広さと深さ" in page.text and "会議" in page.text


def test_signed_out_readers_are_sent_to_sign_in(client: TestClient, book: Book) -> None:
    response = client.get(PATH, headers=HTML, follow_redirects=False)
    assert response.status_code in (303, 401)
    assert client.get(f"{PATH}.csv", headers=HTML, follow_redirects=False).status_code in (303, 401)


def test_effect_chart_geometry() -> None:
    from app.scoring.interventions import Effect
    from app.views.analytics import effect_chart

    def effect(value: float | None, low: float | None, high: float | None) -> Effect:
        return Effect(
            5,
            5,
            0,
            5,
            1,
            None,
            None,
            value,
            None,
            None,
            low,
            high,
            "positive" if low and low > 0 else "unclear",
        )

    chart = effect_chart(
        [
            ("Training", effect(5.0, 2.0, 7.3)),
            ("Call", effect(-1.0, -3.0, 1.0)),
            ("Check-in", effect(None, None, None)),
        ]
    )
    assert chart is not None
    # widest reach 7.3 → ticks every 2 up to ±8; plot 640 − 190 − 16 = 434 wide, 0 in the middle
    assert [v for _, v in chart.ticks] == [-8, -6, -4, -2, 0, 2, 4, 6, 8]
    assert chart.zero == 190 + 434 / 2
    training, call = chart.rows  # the type without an interval is left out
    assert training.x == round(190 + (5 + 8) / 16 * 434, 1)
    assert (training.low, training.high) == (round(190 + 10 / 16 * 434, 1), round(190 + 15.3 / 16 * 434, 1))
    assert call.reading == "unclear" and call.y > training.y
    assert effect_chart([("Check-in", effect(None, None, None))]) is None
