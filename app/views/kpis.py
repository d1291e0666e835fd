"""Team KPIs (``/kpis``): each KPI with its definition and 12-period trend, and CSV exports.

The period and filters live in the query string, so every view is a shareable URL; htmx asks for
the ``results`` block only and pushes the canonical URL. ``/kpis.csv?table=...`` exports each
table of the page with the same parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.accounts import portfolio as portfolio_svc
from app.analytics import kpis as svc
from app.deps import CurrentUserDep, SessionDep
from app.errors import InvalidInput
from app.i18n import L10n
from app.models import SEGMENTS
from app.scoring import kpis as calc
from app.views import htmx
from app.views.downloads import csv_response
from app.views.forecast_panels import grr_forecast_context
from app.views.page import Viewer, ViewerDep, show, url_with

router = APIRouter()
TABLES = ("trend", "renewals", "nps")
#: How far back the period picker offers months and quarters.
PICKER_MONTHS = 24
PICKER_QUARTERS = 8


def N_(message: str) -> str:
    """Marks a string for the catalogs; translated where it is shown."""
    return message


TITLES = {
    "renewal_rate": N_("Renewal rate"),
    "gross_revenue_retention": N_("Gross revenue retention"),
    "net_revenue_retention": N_("Net revenue retention"),
    "score_change_per_account": N_("Health score rise per account"),
    "average_score_change": N_("Change of the average health score"),
    "response_rate": N_("Customer response rate"),
    "nps": N_("Net Promoter Score (NPS)"),
    "coverage": N_("Account coverage"),
    "tasks_on_time": N_("Tasks done on time"),
    "weekly_list_done": N_("Weekly list: done vs not actionable"),
}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    negative: bool
    label: str  # the period and its value, for the tooltip and screen readers


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    zero: float  # y of the zero line
    bars: list[Bar]


def bar_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    floor: float = 0.0,
    width: int = 240,
    height: int = 56,
) -> BarChart:
    """One bar per period (none where there is no value), scaled to the largest magnitude (at
    least ``floor``: 1.0 keeps ratios on a 0–100 % axis), with a zero line: below it when values
    are negative."""
    present = [v for v in values if v is not None]
    top = max([v for v in present if v > 0] + [floor], default=0.0)
    bottom = min([v for v in present if v < 0], default=0.0)
    span = (top - bottom) or 1.0
    pad = 2.0
    plot = height - 2 * pad
    zero = pad + top / span * plot if present else height - pad
    step = width / max(len(values), 1)
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        if value is None:
            continue
        size = abs(value) / span * plot
        y = zero - size if value >= 0 else zero
        bars.append(
            Bar(
                round(i * step + 1, 1),
                round(y, 1),
                round(max(step - 2, 1), 1),
                round(max(size, 0.5), 1),
                value < 0,
                label,
            )
        )
    return BarChart(width, height, round(zero, 1), bars)


def format_value(l10n: L10n, value: float | None, unit: str) -> str:
    """A ratio as a percent with one decimal, a score change signed, NPS signed; — for none."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{l10n.number(value * 100, 1)}%"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{l10n.number(abs(value), 1)}"


def _parts(viewer: Viewer, kpis: calc.PeriodKpis, key: str) -> str:
    """The numbers behind a KPI, in words."""
    _, l10n = viewer._, viewer.l10n
    n = l10n.number
    r, s = kpis.retention, kpis.score
    if key == "renewal_rate":
        return _(
            "%(renewed)s renewed of %(due)s due, %(churned)s churned",
            renewed=n(kpis.renewals.renewed),
            due=n(kpis.renewals.due),
            churned=n(kpis.renewals.churned),
        )
    if key in ("gross_revenue_retention", "net_revenue_retention"):
        money = (lambda v: l10n.currency(v, r.currency)) if r.currency else n
        text = _(
            "ARR %(start)s at the start of %(accounts)s accounts → %(end)s; "
            "expansion %(expansion)s, contraction %(contraction)s, churn %(churn)s",
            start=money(r.start_arr),
            accounts=n(r.accounts),
            end=money(r.end_arr),
            expansion=money(r.expansion),
            contraction=money(r.contraction),
            churn=money(r.churned_arr),
        )
        if r.other_currency:
            text += " " + _("(%(count)s accounts in other currencies left out)", count=n(r.other_currency))
        return text
    if key == "score_change_per_account":
        return _("Accounts scored at both ends: %(accounts)s", accounts=n(s.accounts))
    if key == "average_score_change":
        return _(
            "Average %(start)s (%(start_n)s accounts) → %(end)s (%(end_n)s accounts)",
            start=n(s.start_average, 1),
            start_n=n(s.start_accounts),
            end=n(s.end_average, 1),
            end_n=n(s.end_accounts),
        )
    if key == "response_rate":
        return _(
            "%(count)s of %(active)s active accounts responded",
            count=n(kpis.responded.count),
            active=n(kpis.active),
        )
    if key == "nps":
        return _(
            "Responses: %(responses)s (promoters %(promoters)s, passives %(passives)s, "
            "detractors %(detractors)s)",
            responses=n(kpis.nps.responses),
            promoters=n(kpis.nps.promoters),
            passives=n(kpis.nps.passives),
            detractors=n(kpis.nps.detractors),
        )
    if key == "coverage":
        return _(
            "%(count)s of %(active)s active accounts touched",
            count=n(kpis.coverage.count),
            active=n(kpis.active),
        )
    if key == "tasks_on_time":
        return _("%(count)s of %(judged)s tasks on time", count=n(kpis.tasks.count), judged=n(kpis.tasks.of))
    return _(
        "%(done)s done, %(rejected)s not actionable, %(open)s still open",
        done=n(kpis.verdicts.done),
        rejected=n(kpis.verdicts.rejected),
        open=n(kpis.verdicts.open),
    )


def _team_today(viewer: Viewer) -> dt.date:
    """Today in the team's time zone, which the periods are in (not the reader's own zone)."""
    return viewer.team_today


def period_label(viewer: Viewer, period: calc.Period) -> str:
    """``October 2026`` / ``2026年10月``, ``2026 Q3``, or the two dates of a range."""
    l10n = viewer.l10n
    if period.kind == "month":
        return l10n.date(period.start, "MMMM y" if l10n.language == "en" else "y年M月")
    if period.kind == "quarter":
        return viewer._(
            "%(year)s Q%(quarter)s", year=period.start.year, quarter=(period.start.month - 1) // 3 + 1
        )
    return f"{l10n.date(period.start)} – {l10n.date(period.end)}"


def _choices(viewer: Viewer) -> list[tuple[str, str, str]]:
    """(group, value, label) for the period picker: recent months, then recent quarters."""
    month = calc.month_of(_team_today(viewer))
    out: list[tuple[str, str, str]] = []
    for _ in range(PICKER_MONTHS):
        out.append(("month", month.key, period_label(viewer, month)))
        month = calc.previous(month)
    quarter = calc.quarter_of(_team_today(viewer))
    for _ in range(PICKER_QUARTERS):
        out.append(("quarter", quarter.key, period_label(viewer, quarter)))
        quarter = calc.previous(quarter)
    return out


def _chosen(
    period: str | None, start: str | None, end: str | None
) -> tuple[str | None, str | None, str | None]:
    """The form always sends its dates: they count only when "range" is picked (or no period),
    and a range still being filled in (one date so far) shows the default period, not an error."""
    if period == "range":
        return (None, start, end) if start and end else (None, None, None)
    if period:
        return period, None, None
    return None, start, end


def _load(
    viewer: Viewer,
    session: SessionDep,
    *,
    period: str | None,
    start: str | None,
    end: str | None,
    segment: str | None,
    owner: str | None,
    industry: str | None,
    tier: str | None,
) -> tuple[svc.KpiReport, list[str]]:
    """The report for the parameters; invalid ones are reported and the defaults used."""
    period, start, end = _chosen(period, start, end)
    errors: list[str] = []
    try:
        query = svc.parse_query(
            period=period,
            start=start,
            end=end,
            segment=segment,
            owner=owner,
            industry=industry,
            tier=tier,
            today=_team_today(viewer),
        )
    except InvalidInput as error:
        errors = [f"{e.field}: {e.message}" for e in error.errors]
        query = svc.parse_query(period=None, start=None, end=None, today=_team_today(viewer))
    return svc.team_kpis(session, query=query, today=_team_today(viewer), tz=viewer.settings.tz), errors


def _params(report: svc.KpiReport) -> dict[str, Any]:
    """The canonical query string of a report (defaults left out)."""
    p, f = report.query.period, report.query.filters
    params: dict[str, Any] = {"period": None, "from": None, "to": None}
    if p.kind == "range":
        params.update({"from": p.start.isoformat(), "to": p.end.isoformat()})
    elif p != calc.month_of(report.today):
        params["period"] = p.key
    params.update({"segment": f.segment, "owner": f.owner, "industry": f.industry, "tier": f.tier})
    return params


@router.get("/kpis")
def kpi_page(
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    period: str | None = None,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
    segment: str | None = None,
    owner: str | None = None,
    industry: str | None = None,
    tier: str | None = None,
) -> Response:
    """The KPI cards, trend table, renewals and NPS comments; the ``results`` block for htmx."""
    report, errors = _load(
        viewer,
        session,
        period=period,
        start=start,
        end=end,
        segment=segment,
        owner=owner,
        industry=industry,
        tier=tier,
    )
    current = report.current
    labels = [period_label(viewer, k.period) for k in report.trend]
    series = svc.series(report)
    cards = []
    for value in current.values():
        shown = [format_value(viewer.l10n, v, value.unit) for v in series[value.key]]
        cards.append(
            {
                "key": value.key,
                "title": viewer._(TITLES[value.key]),
                "value": format_value(viewer.l10n, value.value, value.unit),
                "parts": _parts(viewer, current, value.key),
                "definition": viewer._(calc.DEFINITIONS[value.key]),
                "chart": bar_chart(
                    series[value.key],
                    [f"{lb}: {v}" for lb, v in zip(labels, shown, strict=True)],
                    floor=1.0 if value.unit == "ratio" else 0.0,
                ),
            }
        )
    trend_rows = [
        {"label": label, "values": [format_value(viewer.l10n, v.value, v.unit) for v in k.values()]}
        for label, k in zip(labels, report.trend, strict=True)
    ][::-1]
    params = _params(report)
    response = show(
        viewer,
        "kpis/index.html",
        {
            "report": report,
            "cards": cards,
            "trend_rows": trend_rows,
            "errors": errors,
            "params": params,
            "period_label": labels[-1],
            "selected": "range" if current.period.kind == "range" else current.period.key,
            "titles": [viewer._(TITLES[k]) for k in calc.KPI_KEYS],
            "choices": _choices(viewer),
            "owners": portfolio_svc.owners(session),
            "segments": SEGMENTS,
            "industries": svc.industries(session),
            "tiers": svc.TIERS,
            "csv": {t: url_with("/kpis.csv", params, table=t) for t in TABLES},
            **grr_forecast_context(session, viewer),
        },
        block="results",
    )
    if htmx.is_htmx(viewer.request):
        htmx.push_url(response, url_with("/kpis", params))
    return response


def _csv_rows(report: svc.KpiReport, table: str) -> list[list[Any]]:
    if table == "trend":
        header: list[Any] = ["period", "start", "end"]
        for key in calc.KPI_KEYS:
            header += [key, f"{key}_numerator", f"{key}_denominator"]
        rows = [header]
        for kpis in report.trend:
            row: list[Any] = [kpis.period.key, kpis.period.start, kpis.period.end]
            for v in kpis.values():
                row += [v.value, v.numerator, v.denominator]
            rows.append(row)
        return rows
    if table == "renewals":
        return [["account_id", "account_name", "on", "outcome", "arr_before", "arr_after"]] + [
            [
                r.account.external_id,
                r.account.name,
                r.renewal.on,
                r.renewal.outcome,
                r.renewal.arr_before,
                r.renewal.arr_after,
            ]
            for r in report.renewals
        ]
    return [["account_id", "account_name", "on", "score", "comment"]] + [
        [c.account.external_id, c.account.name, c.on, c.score, c.comment] for c in report.comments
    ]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@router.get("/kpis.csv")
def kpi_csv(
    user: CurrentUserDep,
    viewer: ViewerDep,
    session: SessionDep,
    table: str = "trend",
    period: str | None = None,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
    segment: str | None = None,
    owner: str | None = None,
    industry: str | None = None,
    tier: str | None = None,
) -> Response:
    """One table of the page as CSV (UTF-8 with a byte order mark, which spreadsheets need to
    read Japanese names); plain values: ISO dates, ratios 0–1, amounts without separators."""
    if table not in TABLES:
        raise InvalidInput.field("table", f"must be one of {', '.join(TABLES)}", "query")
    period, start, end = _chosen(period, start, end)
    query = svc.parse_query(
        period=period,
        start=start,
        end=end,
        segment=segment,
        owner=owner,
        industry=industry,
        tier=tier,
        today=_team_today(viewer),
    )
    report = svc.team_kpis(session, query=query, today=_team_today(viewer), tz=viewer.settings.tz)
    name = f"kpis-{table}-{report.current.period.key.replace('..', '_')}.csv"
    return csv_response(name, ([_cell(v) for v in row] for row in _csv_rows(report, table)))
