"""The views' pure helpers: SVG geometry, Markdown sanitising, htmx headers, safe redirects."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.views import htmx
from app.views.auth import safe_next
from app.views.charts import line_chart, sparkline
from app.views.downloads import safe_cell
from app.views.markdown import render_markdown
from app.views.page import url_with


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_sparkline_scales_to_the_model_and_tells_the_direction() -> None:
    up = sparkline([10.0, 50.0, 90.0], scale_max=100, width=100, height=24)

    assert up.points == "2.0,20.0 50.0,12.0 98.0,4.0"
    assert up.last == (98.0, 4.0) and up.direction == "up"
    assert sparkline([2.0, 2.05], scale_max=4).direction == "flat"
    assert sparkline([3.0, 1.0], scale_max=4).direction == "down"
    assert sparkline([], scale_max=100).points == ""


def test_line_chart_places_points_bands_and_months() -> None:
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    chart = line_chart([(dt.date(2026, 1, 1), 0.0), (dt.date(2026, 12, 31), 100.0),
                        (dt.date(2025, 12, 1), 50.0)], start=start, end=end, scale_max=100,
                       band_good=70, band_normal=40, width=640, height=180)

    assert [(x, y) for x, y, _, _ in chart.dots] == [(36.0, 158.0), (632.0, 8.0)]  # out of range left out
    assert [t.label.month for t in chart.months] == list(range(1, 13))
    assert [b for b, _, _ in chart.bands] == ["good", "normal", "bad"]
    assert sum(h for _, _, h in chart.bands) == pytest.approx(150.0)


@pytest.mark.parametrize(
    ("markdown", "wanted", "absent"),
    [
        ("**bold** and _it_", "<strong>bold</strong> and <em>it</em>", None),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))", "href"),
        ('<img src=x onerror="alert(1)">', "&lt;img", "<img"),
        ("[site](https://example.com)", 'href="https://example.com"', None),
        ("| a | b |\n| - | - |\n| 1 | 2 |", "<td>1</td>", None),
    ],
)
def test_markdown_is_rendered_and_sanitised(markdown: str, wanted: str, absent: str | None) -> None:
    html = str(render_markdown(markdown))

    assert wanted in html
    if absent:
        assert absent not in html


def test_fragment_detection() -> None:
    assert htmx.is_htmx(_request({"HX-Request": "true"}))
    assert not htmx.is_htmx(_request({}))
    assert not htmx.is_htmx(_request({"HX-Request": "true", "HX-Boosted": "true"}))
    assert not htmx.is_htmx(_request({"HX-Request": "true", "HX-History-Restore-Request": "true"}))


def test_redirect_is_303_or_hx_redirect() -> None:
    plain = htmx.redirect(_request({}), "/x")
    hx = htmx.redirect(_request({"HX-Request": "true"}), "/x")

    assert (plain.status_code, plain.headers["location"]) == (303, "/x")
    assert (hx.status_code, hx.headers["HX-Redirect"]) == (200, "/x")
    assert plain.headers["vary"] == hx.headers["vary"] == "HX-Request"


def test_triggers_accumulate_and_vary_is_added_once() -> None:
    response = Response(headers={"Vary": "Accept-Encoding"})
    htmx.trigger(response, "a")
    htmx.trigger(response, "b", {"n": 1})
    htmx.vary(response)
    htmx.vary(response)

    assert response.headers["HX-Trigger"] == '{"a": true, "b": {"n": 1}}'
    assert response.headers["vary"] == "Accept-Encoding, HX-Request"


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        (None, "/"), ("/accounts/acme?x=1", "/accounts/acme?x=1"), ("//evil.example", "/"),
        ("https://evil.example/", "/"), ("accounts", "/"), ("/\\\\evil", "/"),
        ("/\\evil.example", "/"), ("/\t/evil.example", "/"), ("/\n/evil.example", "/"),
        ("/%5Cevil.example", "/%5Cevil.example"),
    ],
)
def test_safe_next(given: str | None, wanted: str) -> None:
    assert safe_next(given) == wanted


def test_url_with_drops_empty_values() -> None:
    assert url_with("/", {"owner": "all", "q": "", "band": None}, sort="-arr") == "/?owner=all&sort=-arr"
    assert url_with("/", {"q": "a b&c"}) == "/?q=a+b%26c"


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("=HYPERLINK(\"https://evil.example\")", "'=HYPERLINK(\"https://evil.example\")"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"), ("-2+3", "'-2+3"),
        ("-12.5", "-12.5"), ("+3", "+3"), ("-1,234.5", "-1,234.5"), ("-4%", "-4%"),
        ("Acme = best", "Acme = best"), (-3, -3), (None, None),
    ],
)
def test_csv_cells_that_would_run_as_formulas_are_quoted(given: object, wanted: object) -> None:
    assert safe_cell(given) == wanted
