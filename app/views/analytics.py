"""Intervention effectiveness (``/kpis/interventions``): which interventions move the health
score, with intervals, a chart and breadth vs depth; every table also as CSV.

Filters live in the query string; htmx asks for the ``results`` block and the canonical URL is
pushed, as on the portfolio. Values the page cannot use fall back to the defaults (the JSON API
refuses them by name instead).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.accounts import portfolio as portfolio_svc
from app.analytics import interventions as svc
from app.deps import CurrentUserDep, SessionDep
from app.errors import InvalidInput, NotFound
from app.models import SEGMENTS
from app.scoring.interventions import Effect
from app.scoring.playbooks import ACTIONS
from app.views import htmx
from app.views.downloads import csv_response
from app.views.page import Viewer, ViewerDep, show, url_with

router = APIRouter()
PATH = "/kpis/interventions"
TABLES = ("30", "60", "touches")


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(
    viewer: Viewer,
    session: SessionDep,
    *,
    start: str | None,
    end: str | None,
    segment: str | None,
    owner: str | None,
) -> svc.Filters:
    """The page's filters; anything unusable falls back to its default."""
    today = viewer.today
    values: dict[str, Any] = {
        "start": _date(start),
        "end": _date(end),
        "window": None,
        "segment": segment if segment in SEGMENTS else None,
        "owner": owner,
    }
    try:
        return svc.parse_filters(session, today=today, **values)
    except InvalidInput:
        return svc.parse_filters(
            session, start=None, end=None, window=None, segment=values["segment"], owner=None, today=today
        )


def _params(filters: svc.Filters) -> dict[str, Any]:
    return {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "segment": filters.segment,
        "owner": filters.owner,
    }


@dataclass(frozen=True)
class Whisker:
    label: str
    y: float
    x: float  # the effect
    low: float
    high: float
    reading: str


@dataclass(frozen=True)
class EffectChart:
    width: int
    height: int
    left: float
    zero: float  # x of 0
    plot_width: float
    rows: list[Whisker]
    ticks: list[tuple[float, float]]  # (x, value)


def effect_chart(
    rows: list[tuple[str, Effect]], *, width: int = 640, row_height: int = 22
) -> EffectChart | None:
    """Effects with their intervals on one horizontal axis symmetric around 0; types without an
    interval are left out."""
    shown = [
        (label, e)
        for label, e in rows
        if e.effect is not None and e.ci_low is not None and e.ci_high is not None
    ]
    if not shown:
        return None
    reach = max(max(abs(e.ci_low or 0), abs(e.ci_high or 0)) for _, e in shown) or 1.0
    step = _nice_step(reach)
    reach = step * max(1, -(-reach // step))
    left, right, top = 190.0, 16.0, 6.0
    plot_w = width - left - right
    height = int(top + row_height * len(shown) + 24)

    def x_of(value: float) -> float:
        return round(left + (value + reach) / (2 * reach) * plot_w, 1)

    whiskers = [
        Whisker(
            label,
            round(top + row_height * (i + 0.5), 1),
            x_of(e.effect or 0.0),
            x_of(e.ci_low or 0.0),
            x_of(e.ci_high or 0.0),
            e.reading,
        )
        for i, (label, e) in enumerate(shown)
    ]
    ticks = []
    value = -reach
    while value <= reach + 1e-9:
        ticks.append((x_of(value), round(value, 2)))
        value += step
    return EffectChart(width, height, left, x_of(0.0), plot_w, whiskers, ticks)


def _nice_step(reach: float) -> float:
    """A round tick step giving 2–5 ticks on each side (reach 7.3 → 2; 0.4 → 0.1)."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500):
        if reach / step <= 5:
            return float(step)
    return 1000.0


def type_label(viewer: Viewer, key: str) -> str:
    """A type's name in the reader's language."""
    if key.startswith(svc.ACTION_PREFIX):
        action = ACTIONS.get(key.removeprefix(svc.ACTION_PREFIX))
        if action is not None:
            return action.name_ja if viewer.l10n.language == "ja" else action.name_en
    names = {
        "meeting": viewer._("meeting"),
        "call": viewer._("call"),
        "training": viewer._("training"),
        "webinar": viewer._("webinar"),
        "event": viewer._("event"),
        "community": viewer._("community"),
        svc.CHECKIN_KEY: viewer._("Check-in email"),
    }
    return names.get(key, key)


@router.get(PATH)
def interventions_page(
    _user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    segment: str | None = None,
    owner: str | None = None,
) -> Response:
    """Effect of each intervention 30 and 60 days on, and breadth vs depth; ``results`` for htmx."""
    filters = _filters(viewer, session, start=start, end=end, segment=segment, owner=owner)
    report = svc.effectiveness(session, filters=filters, tz=viewer.settings.tz)
    params = _params(filters)
    labels = {r.key: type_label(viewer, r.key) for w in report.windows for r in w.rows}
    charts = {w.window: effect_chart([(labels[r.key], r.effect) for r in w.rows]) for w in report.windows}
    response = show(
        viewer,
        "analytics/interventions.html",
        {
            "report": report,
            "params": params,
            "labels": labels,
            "charts": charts,
            "segments": SEGMENTS,
            "owners": portfolio_svc.owners(session),
            "csv_urls": {t: url_with(f"{PATH}.csv", params, table=t) for t in TABLES},
            "config": report.config,
        },
        block="results",
    )
    if htmx.is_htmx(viewer.request):
        htmx.push_url(response, url_with(PATH, params))
    return response


@router.get(f"{PATH}.csv")
def interventions_csv(
    _user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    table: str = "30",
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    segment: str | None = None,
    owner: str | None = None,
) -> Response:
    """One table of the page as CSV: ``table=30`` or ``60`` (effects), ``touches``."""
    if table not in TABLES:
        raise NotFound(f"no table {table!r}; expected one of {', '.join(TABLES)}")
    filters = _filters(viewer, session, start=start, end=end, segment=segment, owner=owner)
    report = svc.effectiveness(session, filters=filters, tz=viewer.settings.tz)
    rows = _touch_rows(report) if table == "touches" else _effect_rows(viewer, report, table)
    name = f"interventions-{table}-{filters.start}-{filters.end}.csv"
    return csv_response(name, rows)


def _touch_rows(report: svc.InterventionReport) -> list[list[object]]:
    """The breadth-vs-depth table: a header, then a row per touch bucket."""
    rows: list[list[object]] = [
        [
            "touches",
            "accounts",
            "scored",
            "total_touches",
            "mean_change",
            "total_change",
            "change_per_touch",
        ]
    ]
    for b in report.breadth_depth.buckets:
        rows.append(
            [
                b.label,
                b.accounts,
                b.scored,
                b.touches,
                _num(b.mean_change),
                _num(b.total_change),
                _num(b.change_per_touch),
            ]
        )
    return rows


def _effect_rows(viewer: Viewer, report: svc.InterventionReport, table: str) -> list[list[object]]:
    """One window's effects table: a header, then a row per intervention type."""
    window = next(w for w in report.windows if str(w.window) == table)
    rows: list[list[object]] = [
        [
            "type",
            "name",
            "window_days",
            "interventions",
            "effect",
            "ci_low",
            "ci_high",
            "treated_mean",
            "control_mean",
            "treated",
            "treated_accounts",
            "controls",
            "unmatched",
            "reading",
        ]
    ]
    for r in window.rows:
        e = r.effect
        rows.append(
            [
                r.key,
                type_label(viewer, r.key),
                window.window,
                r.events,
                _num(e.effect),
                _num(e.ci_low),
                _num(e.ci_high),
                _num(e.treated_mean),
                _num(e.control_mean),
                e.treated,
                e.treated_accounts,
                e.controls,
                e.unmatched,
                e.reading,
            ]
        )
    return rows


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
