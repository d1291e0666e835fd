"""Team KPIs for BI tools: ``GET /api/v1/kpis``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.analytics import kpis as svc
from app.analytics.schemas import (
    FiltersPublic,
    KpiPublic,
    KpiReportPublic,
    NpsCommentPublic,
    PeriodPublic,
    RenewalPublic,
    TrendPoint,
)
from app.api.common import ERRORS
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, TodayDep
from app.scoring import kpis as calc

router = APIRouter(tags=["kpis"], responses=ERRORS)


def _period(period: calc.Period) -> PeriodPublic:
    return PeriodPublic.model_validate(
        {"key": period.key, "kind": period.kind, "start": period.start, "end": period.end}
    )


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


def _detail(kpis: calc.PeriodKpis, key: str) -> dict[str, Any]:
    r, s = kpis.retention, kpis.score
    retention = {
        "currency": r.currency,
        "accounts": r.accounts,
        "start_arr": float(r.start_arr),
        "end_arr": float(r.end_arr),
        "expansion": float(r.expansion),
        "contraction": float(r.contraction),
        "churned_arr": float(r.churned_arr),
        "other_currency_accounts": r.other_currency,
    }
    score = {
        "accounts_both_ends": s.accounts,
        "start_accounts": s.start_accounts,
        "start_average": s.start_average,
        "end_accounts": s.end_accounts,
        "end_average": s.end_average,
    }
    details: dict[str, dict[str, Any]] = {
        "renewal_rate": {
            "renewed": kpis.renewals.renewed,
            "churned": kpis.renewals.churned,
            "due": kpis.renewals.due,
        },
        "gross_revenue_retention": retention,
        "net_revenue_retention": retention,
        "score_change_per_account": score,
        "average_score_change": score,
        "response_rate": {"responded": kpis.responded.count, "active_accounts": kpis.active},
        "nps": {
            "promoters": kpis.nps.promoters,
            "passives": kpis.nps.passives,
            "detractors": kpis.nps.detractors,
            "responses": kpis.nps.responses,
        },
        "coverage": {"touched": kpis.coverage.count, "active_accounts": kpis.active},
        "tasks_on_time": {"on_time": kpis.tasks.count, "judged": kpis.tasks.of},
        "weekly_list_done": {
            "done": kpis.verdicts.done,
            "not_actionable": kpis.verdicts.rejected,
            "open": kpis.verdicts.open,
        },
    }
    return details[key]


def report_public(report: svc.KpiReport, *, timezone: str) -> KpiReportPublic:
    current = report.current
    trends: dict[str, list[TrendPoint]] = {k: [] for k in calc.KPI_KEYS}
    for kpis in report.trend:
        for v in kpis.values():
            trends[v.key].append(
                TrendPoint(
                    period=_period(kpis.period),
                    value=v.value,
                    numerator=v.numerator,
                    denominator=v.denominator,
                )
            )
    f = report.query.filters
    return KpiReportPublic(
        period=_period(current.period),
        filters=FiltersPublic(segment=f.segment, owner=f.owner, industry=f.industry, tier=f.tier),
        timezone=timezone,
        as_of=report.today,
        accounts=report.accounts,
        health_model=report.model_name,
        kpis=[
            KpiPublic(
                key=v.key,
                value=v.value,
                unit=v.unit,
                numerator=v.numerator,
                denominator=v.denominator,
                definition=calc.DEFINITIONS[v.key],
                detail=_detail(current, v.key),
                trend=trends[v.key],
            )
            for v in current.values()
        ],
        nps_comments=[
            NpsCommentPublic(
                account_id=c.account.external_id,
                account_name=c.account.name,
                on=c.on,
                score=c.score,
                comment=c.comment,
            )
            for c in report.comments
        ],
        renewals=[
            RenewalPublic(
                account_id=r.account.external_id,
                account_name=r.account.name,
                on=r.renewal.on,
                outcome=r.renewal.outcome,
                arr_before=_money(r.renewal.arr_before),
                arr_after=_money(r.renewal.arr_after),
            )
            for r in report.renewals
        ],
    )


@router.get("/kpis", response_model=KpiReportPublic)
def get_kpis(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    today: TodayDep,
    _key: ReadKeyDep,
    period: Annotated[
        str | None, Query(description="`2026-10` (a month) or `2026-Q3` (a quarter); default: this month")
    ] = None,
    start: Annotated[str | None, Query(alias="from", description="A range's first day")] = None,
    end: Annotated[str | None, Query(alias="to", description="A range's last day (inclusive)")] = None,
    segment: Annotated[str | None, Query(description="enterprise, mid_market or smb")] = None,
    owner: Annotated[
        str | None, Query(description="The owning CSM's email, or `none` for accounts without an owner")
    ] = None,
    industry: Annotated[str | None, Query()] = None,
    tier: Annotated[str | None, Query(description="The industry tier, 1–4")] = None,
) -> KpiReportPublic:
    """Every team KPI of a period with its definition, parts and 12-period trend (read scope).

    Periods and dates are in the team's time zone; a renewal on a period's last day counts in it.
    """
    query = svc.parse_query(
        period=period,
        start=start,
        end=end,
        segment=segment,
        owner=owner,
        industry=industry,
        tier=tier,
        today=today,
        session=session,
    )
    report = svc.team_kpis(session, query=query, today=today, tz=settings.tz)
    return report_public(report, timezone=settings.timezone)
