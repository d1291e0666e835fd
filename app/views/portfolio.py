"""The portfolio (``/``): the accounts a CSM looks after, as a table or a measure heatmap.

Filters live in the query string, so every view of the portfolio is a shareable URL; htmx asks
for the ``results`` block only and pushes the URL, so the back button walks through filters. The
table and the heatmap show a page of ``PAGE_SIZE`` accounts; the count and ARR cover every page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlmodel import Session
from starlette.responses import Response

from app.accounts import portfolio as portfolio_svc
from app.deps import CurrentUserDep, NowDep, SessionDep
from app.models import SEGMENTS, STAGE_NAMES
from app.views import htmx
from app.views.charts import sparkline
from app.views.page import Viewer, ViewerDep, show, url_with
from app.views.week import STAGE_LABELS

router = APIRouter()
VIEWS = ("table", "heatmap")


@dataclass(frozen=True)
class PortfolioColumn:
    """An extra column of the portfolio table (after Band): its header and its cell's text.

    Capabilities that add a column per account (a lifecycle stage, a tier, open tasks) append
    one to ``extra_columns``; ``cell`` gets the row and returns what the cell shows.
    """

    label: str
    cell: Callable[[portfolio_svc.PortfolioRow], str]
    numeric: bool = False


def extra_columns(
    viewer: Viewer, session: Session, rows: list[portfolio_svc.PortfolioRow]
) -> list[PortfolioColumn]:
    """The extra columns for these rows (none yet: stage, tier and open tasks are in the table)."""
    return []


def _owner_filter(owner: str | None, email: str, role: str) -> tuple[str, str | None]:
    """(the owner choice as shown, the email or "none" to filter by, or None for everyone).

    A CSM starts on their own accounts; admins and viewers start on everyone's.
    """
    choice = (owner or "").strip().lower() or ("me" if role == "csm" else "all")
    if choice == "me":
        return choice, email
    if choice == "all":
        return choice, None
    return choice, choice


@router.get("/")
def portfolio(
    user: CurrentUserDep, viewer: ViewerDep, session: SessionDep, now: NowDep,
    owner: str | None = None, band: str | None = None, segment: str | None = None,
    q: str | None = None, sort: str | None = None, view: str | None = None,
    stage: str | None = None, tier: str | None = None, page: str | None = None,
) -> Response:
    """One page of the accounts, filtered and sorted; the ``results`` block for htmx."""
    choice, owner_email = _owner_filter(owner, user.email, user.role)
    filters = portfolio_svc.parse_filters(owner=owner_email, band=band, segment=segment, search=q,
                                          sort=sort, stage=stage, tier=tier, page=page)
    mode = view if view in VIEWS else "table"
    data = portfolio_svc.load_portfolio(session, filters=filters, now=now, today=viewer.today,
                                        with_groups=mode == "heatmap")
    rows = [
        {"row": row, "spark": sparkline(row.trend, scale_max=row.scale_max or data.scale_max)}
        for row in data.rows
    ]
    heat: list[dict[str, Any]] = []
    if mode == "heatmap":
        for row in data.rows:
            heat.append({"row": row, "cells": row.grades})
    # Filters without the page: a filter or sort change starts again on page 1.
    params = {"owner": choice, "band": filters.band, "segment": filters.segment,
              "stage": filters.stage, "tier": filters.tier, "q": filters.search,
              "sort": filters.sort, "view": mode}
    page_number = data.page if data.page > 1 else None
    response = show(viewer, "portfolio/index.html", {
        "rows": rows, "heat": heat, "data": data, "params": params, "mode": mode,
        "owners": portfolio_svc.owners(session), "segments": SEGMENTS,
        "bands": portfolio_svc.BANDS, "total_arr": data.total_arr,
        "stages": STAGE_NAMES, "tiers": portfolio_svc.TIERS,
        "stage_names": {s: viewer._(STAGE_LABELS[s]) for s in STAGE_NAMES},
        "target_label": viewer._("target"),
        "extra_columns": extra_columns(viewer, session, data.rows),
        # Translated once, not once per row.
        "band_names": {b: viewer._(b) for b in portfolio_svc.BANDS}, "no_score": viewer._("no score"),
        "trend_labels": {d: viewer._("Score trend: %(direction)s", direction=viewer._(d))
                         for d in ("up", "down", "flat")},
    }, block="results")
    if htmx.is_htmx(viewer.request):
        # The address bar gets the canonical URL (defaults and empty filters left out), not the
        # form's raw serialisation, so a shared link is short and the back button is exact.
        htmx.push_url(response, url_with("/", params, sort=None if filters.sort == "name" else filters.sort,
                                         view=None if mode == "table" else mode, page=page_number))
    return response
