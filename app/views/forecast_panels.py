"""The renewal forecast on the pages: the account page's panel and the KPI page's GRR forecast.

Stored codes (statuses, driver codes, measure keys) are turned into the reader's language here;
the numbers come from what the daily fit stored (``app.health.forecast``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from app.health import forecast as forecast_svc
from app.models import Account, RenewalForecastRun
from app.views.labels import N_
from app.views.page import Viewer

#: Why an account has no probability, by the stored status.
STATUS_TEXT = {
    "insufficient_history": N_(
        "Not enough decided renewals in the book's history to forecast yet "
        "(at least 10 renewed and 10 churned are needed)."
    ),
    "no_renewal_date": N_("No renewal date is set, so there is nothing to forecast."),
    "renewal_passed": N_("The renewal date has passed; set the next one to forecast it."),
    "renewal_beyond_horizon": N_("The renewal is more than a year away; forecasts look one year ahead."),
    "no_score": N_("No recent health score to forecast from."),
}
RUN_TEXT = {
    "no_model": N_("No health model with a published version to forecast from."),
    "no_scores": N_("No stored health scores to learn from yet."),
    "insufficient_history": STATUS_TEXT["insufficient_history"],
}
PLAN_TEXT = {
    "measures": N_("one weight per measure"),
    "score": N_("the score alone (too little history for one weight per measure)"),
}


def _method(viewer: Viewer, run: RenewalForecastRun | None, model_name: str | None) -> dict[str, Any] | None:
    if run is None:
        return None
    l10n = viewer.l10n
    ev = run.evaluation or {}
    out: dict[str, Any] = {
        "status": run.status,
        "note": viewer._(RUN_TEXT[run.status]) if run.status in RUN_TEXT else None,
    }
    if run.status == "ok":
        out["fit"] = viewer._(
            "Logistic regression on the %(model)s scores, %(plan)s, trained on reference dates "
            "%(first)s–%(last)s (%(renewed)s renewed, %(churned)s churned).",
            model=model_name or "—",
            plan=viewer._(PLAN_TEXT.get(run.plan or "", PLAN_TEXT["score"])),
            first=l10n.date(run.training_first_on),
            last=l10n.date(run.training_last_on),
            renewed=run.renewed,
            churned=run.churned,
        )
        if ev.get("status") == "ok":
            out["check"] = viewer._(
                "Out of time (reference dates from %(cutoff)s, never seen in fitting): Brier score "
                "%(brier)s against %(base)s for predicting the base rate (lower is better); AUC %(auc)s.",
                cutoff=l10n.date(_day(ev.get("cutoff"))),
                brier=l10n.decimal(ev.get("brier")),
                base=l10n.decimal(ev.get("base_brier")),
                auc=l10n.decimal(ev.get("auc")) if ev.get("auc") is not None else "—",
            )
        else:
            out["check"] = viewer._("Not enough history yet for an out-of-time check.")
    return out


def _day(value: Any) -> Any:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def renewal_forecast_context(session: Session, viewer: Viewer, account: Account) -> dict[str, Any]:
    """The account page's renewal forecast panel."""
    found = forecast_svc.forecast_of(session, account)
    stored = found.forecast
    drivers = []
    if stored is not None and stored.probability is not None:
        for d in stored.drivers[:6]:
            if d["code"] == "measure":
                name = found.measure_names.get(d["measure"], d["measure"])
                value = viewer.l10n.percent(d["value"]) if d["value"] is not None else viewer._("no data")
            elif d["code"] == "score":
                name = viewer._("Health score")
                value = viewer.l10n.percent(d["value"]) if d["value"] is not None else viewer._("no data")
            else:
                name = viewer._("Days to renewal")
                value = viewer.l10n.number(round((d["value"] or 0) * 365))
            drivers.append({"name": name, "value": value, "contribution": d["contribution"]})
    model_name = found.model.name if found.model is not None else None
    return {
        "forecast": {
            "stored": stored,
            "reason": viewer._(STATUS_TEXT[stored.status])
            if stored is not None and stored.status in STATUS_TEXT
            else None,
            "drivers": drivers,
            "method": _method(viewer, found.run, model_name),
        }
    }


def grr_forecast_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    """The KPI page's GRR forecast for next quarter and the backtest of past quarters."""
    outlook = forecast_svc.grr_outlook(session, today=viewer.team_today)
    run = outlook.run
    quarters = []
    for q in (run.backtest if run is not None else [])[::-1]:
        start = _day(q["start"])
        f = q.get("forecast") or {}
        quarters.append(
            {
                "label": f"{start.year}-Q{(start.month - 1) // 3 + 1}",
                "ok": q["status"] == "ok",
                "accounts": q["accounts"],
                "forecast": viewer.l10n.percent(f.get("grr")) if f.get("grr") is not None else "—",
                "low": viewer.l10n.percent(f.get("low")) if f.get("low") is not None else "—",
                "high": viewer.l10n.percent(f.get("high")) if f.get("high") is not None else "—",
                "actual": viewer.l10n.percent(q["actual"]) if q.get("actual") is not None else "—",
                "inside": f.get("low") is not None
                and q.get("actual") is not None
                and f["low"] <= q["actual"] <= f["high"],
            }
        )
    model_name = outlook.model.name if outlook.model is not None else None
    return {
        "grr": {
            "outlook": outlook,
            "label": f"{outlook.start.year}-Q{(outlook.start.month - 1) // 3 + 1}",
            "method": _method(viewer, run, model_name),
            "quarters": quarters,
        }
    }
