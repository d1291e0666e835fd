"""The account page's context, one function per panel (so a fragment computes only its own),
and ``page_context``, which assembles them all for the whole page.

The routes of the page and of its panels (``accounts``, ``account_lifecycle``, ``plans``,
``account_send``, ``pipeline``) all answer a plain form's error with the whole page, so they all
build it from here; each panel is a named block of ``accounts/detail.html``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from app.accounts import service as accounts_svc
from app.accounts import timeline as timeline_svc
from app.accounts.industries import industry_tiers
from app.errors import NotFound
from app.expansion import service as expansion_svc
from app.health import reading as health_reading
from app.i18n import LANGUAGE_NAMES
from app.lifecycle import stages as stages_svc
from app.lifecycle import tasks as tasks_svc
from app.models import CADENCES, GOAL_STATUSES, LOST_REASONS, OPPORTUNITY_KINDS, AccountStage
from app.pagination import PageParams
from app.plans import plans as success_plans
from app.reports import service as reports_svc
from app.scoring import expansion as expansion_rules
from app.scoring.health import DEFAULT_BAND_GOOD, DEFAULT_BAND_NORMAL
from app.scoring.plans import goal_progress
from app.views.charts import line_chart
from app.views.forecast_panels import renewal_forecast_context
from app.views.labels import N_
from app.views.markdown import render_markdown
from app.views.page import Viewer
from app.views.week import SIGNAL_LABELS, STAGE_LABELS

#: Timeline filters: a kind of interaction → the types it shows.
TIMELINE_KINDS: dict[str, tuple[str, ...]] = {
    "meetings": ("meeting", "call", "meeting_scheduled"),
    "emails": ("email_sent", "email_reply", "email_click"),
    "tickets": ("support_ticket",),
    "nps": ("nps_response",),
    "attendance": ("webinar", "event", "community", "training", "certification"),
    "other": ("community_post", "note"),
}
#: Timeline filters for what is not an interaction: a kind → the timeline's source.
TIMELINE_SOURCES: dict[str, str] = {N_("scores"): "score", N_("goals"): "goal"}
TIMELINE_PAGE = 20
MEETING_KINDS = ("meeting", "call")
ONBOARDING_TOPICS = (
    "kickoff",
    "admin_setup",
    "data_import",
    "user_training",
    "integration",
    "adoption_review",
    "executive_review",
)


def header_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    owner = accounts_svc.account_owner(session, account)
    start = account.contract_start_on
    tenure_days = (viewer.today - start).days if start else None
    return {"account": account, "owner": owner, "tenure_days": tenure_days}


def health_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """The latest score with its explanation and a 12-month chart (None without a model)."""
    today = viewer.team_today
    try:
        current = health_reading.current_health(
            session, account_id=account.external_id, model_id=None, today=today, tz=viewer.settings.tz
        )
    except NotFound:
        return {"health": None, "chart": None}
    start = today - dt.timedelta(days=365)
    _, points, _ = health_reading.health_history(
        session, account_id=account.external_id, model_id=current.model.id, start=start, end=today
    )
    spec = current.version.definition
    series = [(p.day, p.score) for p in points if p.score is not None]
    if current.score is not None and (not series or series[-1][0] < current.day):
        series.append((current.day, current.score))
    chart = line_chart(
        series,
        start=start,
        end=today,
        scale_max=current.scale_max,
        band_good=float(spec.get("band_good", DEFAULT_BAND_GOOD)),
        band_normal=float(spec.get("band_normal", DEFAULT_BAND_NORMAL)),
    )
    return {"health": current, "chart": chart}


def timeline_context(
    session: Any,
    viewer: Viewer,
    account: Any,
    *,
    kind: str | None,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of the timeline: interactions, score changes and goal events, newest first."""
    kind = kind if kind in TIMELINE_KINDS or kind in TIMELINE_SOURCES else None
    if kind in TIMELINE_SOURCES:
        filter_in = timeline_svc.TimelineFilter(sources=(TIMELINE_SOURCES[kind],))
    elif kind:
        filter_in = timeline_svc.TimelineFilter(sources=("interaction",), types=TIMELINE_KINDS[kind])
    else:
        filter_in = timeline_svc.TimelineFilter()
    page = timeline_svc.account_timeline(
        session,
        account_id=account.external_id,
        filter_in=filter_in,
        cursor=cursor or None,
        limit=TIMELINE_PAGE,
        tz=viewer.settings.tz,
    )
    items: list[dict[str, Any]] = []
    for item in page.items:
        if item.interaction is None:
            items.append({"source": item.source, "at": item.at, "goal": item.goal, "score": item.score})
            continue
        view = item.interaction
        row = view.interaction
        scheduled = None
        if row.type == "meeting_scheduled" and row.data.get("scheduled_for"):
            scheduled = dt.datetime.fromisoformat(row.data["scheduled_for"])
        items.append(
            {
                "source": "interaction",
                "at": item.at,
                "row": row,
                "contacts": view.contacts,
                "scheduled_for": scheduled,
                "body_html": render_markdown(row.body) if row.body else None,
            }
        )
    return {
        "timeline": items,
        "next_cursor": page.next_cursor,
        "kind": kind,
        "timeline_kinds": (*TIMELINE_KINDS, *TIMELINE_SOURCES),
    }


def _local_input(moment: dt.datetime, viewer: Viewer) -> str:
    return viewer.l10n.local(moment).strftime("%Y-%m-%dT%H:%M")


def meeting_form(viewer: Viewer, session: Any, account: Any, **values: Any) -> dict[str, Any]:
    """The Log meeting form's context: blank (with a fresh retry key) or as submitted."""
    contacts, _ = accounts_svc.list_contacts(
        session, account_id=account.external_id, page=PageParams(limit=200, cursor=None)
    )
    form = {
        "occurred_at": _local_input(viewer.now, viewer),
        "kind": "meeting",
        "attendees": [],
        "notes": "",
        "onboarding_topic": "",
        "next_meeting": "",
        "key": uuid.uuid4().hex,
    }
    form.update(values)
    return {"form": form, "contacts": contacts, "meeting_kinds": MEETING_KINDS, "topics": ONBOARDING_TOPICS}


def page_context(
    session: Any,
    viewer: Viewer,
    account: Any,
    *,
    kind: str | None = None,
    cursor: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    values = {
        **header_context(session, viewer, account),
        **health_context(session, viewer, account),
        **timeline_context(session, viewer, account, kind=kind, cursor=cursor),
        **meeting_form(viewer, session, account),
        **plan_context(session, viewer, account),
        **lifecycle_context(session, viewer, account),
        **send_report_context(session, viewer, account),
        **opportunities_context(session, viewer, account),
        **renewal_forecast_context(session, viewer, account),
        "can_edit": viewer.can_edit,
        "errors": {},
        "saved": False,
    }
    values.update(overrides)
    return values


# -- the success plan ---------------------------------------------------------------------------


def _when(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 10:
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str) and len(value) == 10:
        return dt.date.fromisoformat(value)
    return value


def progress(goal: dict[str, Any]) -> float | None:
    """How far the goal is, 0..1 (``app.scoring.plans.goal_progress``)."""
    steps = goal.get("steps") or []
    return goal_progress(
        status=goal["status"], baseline=goal.get("baseline"), target=goal.get("target"),
        current=goal.get("current_value"), steps_done=sum(1 for s in steps if s["done"]),
        steps_total=len(steps),
    )


def _goal_values(goal: dict[str, Any]) -> dict[str, Any]:
    out = dict(goal)
    for key in ("due_on", "last_verified_at", "achieved_at", "updated_at"):
        out[key] = _when(goal.get(key))
    out["progress"] = progress(goal)
    out["steps"] = [{**s, "due_on": _when(s.get("due_on"))} for s in goal.get("steps", [])]
    return out


def plan_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """The plan shown: the active one, else the newest; with its goals and steps."""
    plans = success_plans.list_plans(session, account_id=account.external_id)
    chosen = next((p for p in plans if p.status == "active"), plans[0] if plans else None)
    detail = None
    if chosen is not None:
        detail = success_plans.plan_detail(session, chosen)
        detail["goals"] = [_goal_values(g) for g in detail["goals"]]
        detail["target_on"] = _when(detail.get("target_on"))
    return {
        "plan": detail,
        "goal_statuses": GOAL_STATUSES,
        "goal_notices": {},
        "goal_errors": {},
        "plan_errors": {},
        "goal_form": {},
        "account": account,
        "can_edit": viewer.can_edit,
    }


# -- stage, tier, signals and tasks --------------------------------------------------------------


#: Open tasks shown on the panel (the rest are on the tasks API); a CSM rarely has more.
TASKS_SHOWN = 20
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITIES = (N_("high"), N_("medium"), N_("low"))
INDICATOR_LABELS = {
    "star_user": N_("Star user"),
    "champion": N_("Champion motivation"),
    "community": N_("Community attendance"),
}
#: The facts a signal records, in the order shown, with their labels; unknown keys are skipped.
FACT_LABELS = {
    "score": N_("Score"),
    "line": N_("Adoption line"),
    "from": N_("Peak score"),
    "to": N_("Score now"),
    "drop": N_("Drop"),
    "window_days": N_("Window (days)"),
    "tenure_days": N_("Days since contract start"),
    "renewal_on": N_("Renewal"),
    "days_to_renewal": N_("Days to renewal"),
    "last_meeting_on": N_("Last meeting"),
    "last_active_on": N_("Champion last active"),
    "removed_on": N_("Champion removed"),
    "answered_on": N_("Answered"),
    "last_event_on": N_("Last event"),
    "days": N_("Days"),
    "limit": N_("Limit"),
    "goals": N_("Goals"),
    "limit_days": N_("Limit (days)"),
    "events_14d": N_("Events, last 14 days"),
    "baseline_14d": N_("Usual events per 14 days"),
    "ratio": N_("Ratio"),
    "sentiment": N_("CSM sentiment"),
    "band": N_("Band"),
    "seats_change": N_("Seat change"),
}
DATE_FACTS = frozenset(
    {"renewal_on", "last_meeting_on", "last_active_on", "removed_on", "answered_on", "last_event_on"}
)


def signal_facts(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The facts worth showing, as (key, label, value): dates parsed, missing values dropped, in
    the order of ``FACT_LABELS``.

    >>> [key for key, _, _ in signal_facts({"days": 95, "limit": 90, "last_meeting_on": "2026-08-20"})]
    ['last_meeting_on', 'days', 'limit']
    """
    out: list[tuple[str, str, Any]] = []
    for key, label in FACT_LABELS.items():
        value = data.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        if key in DATE_FACTS and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
        out.append((key, label, value))
    return out


def lifecycle_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows: stage (since when, with its indicators), the industry's tier, the
    active signals with the facts that fired them, and the open tasks, soonest due first."""
    stage = session.get(AccountStage, account.id)
    tier = industry_tiers(session, as_of=viewer.today).get(account.industry or "")
    signals = stages_svc.active_signals_of(session, [account.id]).get(account.id, [])
    signals.sort(key=lambda s: (SEVERITY_ORDER.get(s.severity, 3), s.first_on, s.kind))
    tasks, more = tasks_svc.list_tasks(
        session,
        filters=tasks_svc.TaskFilters(account_id=account.external_id),
        page=PageParams(limit=TASKS_SHOWN, cursor=None),
    )
    return {
        "stage": stage,
        "tier": tier,
        "stage_labels": STAGE_LABELS,
        "signal_labels": SIGNAL_LABELS,
        "indicator_labels": INDICATOR_LABELS,
        "signals": [
            {
                "row": s,
                "facts": signal_facts(s.fired_data or s.data),
                "latest": signal_facts(s.data) if s.data != s.fired_data else [],
            }
            for s in signals
        ],
        "tasks": tasks,
        "more_tasks": more is not None,
        "task_errors": {},
    }


# -- send adoption summary ---------------------------------------------------------------------

DEFAULT_LANGUAGE = "ja"  # the customer's language, which is not the CSM's: Japanese first


def default_form(viewer: Viewer, choices: list[tuple[Any, bool]]) -> dict[str, Any]:
    """The send form as it first shows: last month, the champions, Japanese, no message."""
    start, end = reports_svc.default_period(viewer.today)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "language": DEFAULT_LANGUAGE,
        "message": "",
        "recipients": [c.id for c, chosen in choices if chosen],
        "key": uuid.uuid4().hex,
    }


def send_report_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows: the send form, the last send's notice, the scheduled sends
    (``send`` is None for viewers, who see no panel)."""
    if not viewer.can_edit:
        return {"send": None}
    choices = reports_svc.recipient_choices(session, account_id=account.external_id)
    sent = None
    sent_id = viewer.request.query_params.get("sent", "")
    if sent_id.isdigit():
        try:
            report = reports_svc.get_report(session, int(sent_id))
        except NotFound:
            report = None
        if report is not None and report.account_id == account.id:
            sent = report
    return {
        "send": {
            "form": default_form(viewer, choices),
            "choices": choices,
            "errors": {},
            "sent": sent,
            "languages": LANGUAGE_NAMES,
            "cadences": CADENCES,
            "schedules": reports_svc.list_schedules(session, account_id=account.external_id),
            "recent": [
                {
                    "report": r,
                    "link": reports_svc.link_for(viewer.settings, r.id or 0),
                    "state": "revoked"
                    if r.revoked_at
                    else ("expired" if viewer.now >= r.expires_at else "open"),
                }
                for r in reports_svc.recent_reports(session, account_id=account.external_id)
            ],
            "schedule_form": {
                "cadence": "monthly",
                "day_of_month": 1,
                "language": DEFAULT_LANGUAGE,
                "recipients": [c.email for c, chosen in choices if chosen],
            },
            "schedule_errors": {},
        }
    }


# -- expansion opportunities ---------------------------------------------------------------------

OPPORTUNITY_KIND_LABELS = {
    "upsell_seats": N_("opportunity-kind:upsell_seats"),
    "cross_sell": N_("opportunity-kind:cross_sell"),
    "upgrade_plan": N_("opportunity-kind:upgrade_plan"),
}
OPPORTUNITY_STAGE_LABELS = {
    "identified": N_("opportunity-stage:identified"),
    "qualified": N_("opportunity-stage:qualified"),
    "proposal": N_("opportunity-stage:proposal"),
    "committed": N_("opportunity-stage:committed"),
    "won": N_("opportunity-stage:won"),
    "lost": N_("opportunity-stage:lost"),
}
OPPORTUNITY_LOST_LABELS = {
    "budget": N_("lost-reason:budget"),
    "timing": N_("lost-reason:timing"),
    "no_need": N_("lost-reason:no_need"),
    "competitor": N_("lost-reason:competitor"),
    "product_fit": N_("lost-reason:product_fit"),
    "other": N_("lost-reason:other"),
}
OPPORTUNITY_SOURCE_LABELS = {
    "manual": N_("opportunity-source:manual"),
    "seats_nearly_full": N_("opportunity-source:seats_nearly_full"),
    "usage_growth": N_("opportunity-source:usage_growth"),
}


def opportunity_labels(viewer: Viewer) -> dict[str, dict[str, str]]:
    """Every stored value's display name in the reader's language (translated once per page)."""
    _ = viewer._
    return {
        "kind": {k: _(v) for k, v in OPPORTUNITY_KIND_LABELS.items()},
        "stage": {k: _(v) for k, v in OPPORTUNITY_STAGE_LABELS.items()},
        "lost": {k: _(v) for k, v in OPPORTUNITY_LOST_LABELS.items()},
        "source": {k: _(v) for k, v in OPPORTUNITY_SOURCE_LABELS.items()},
    }


def new_form(**values: Any) -> dict[str, Any]:
    """The add-opportunity form: blank (with a fresh retry key) or as submitted."""
    form = {
        "kind": "upsell_seats",
        "title": "",
        "amount": "",
        "stage": "identified",
        "expected_close_on": "",
        "notes": "",
        "key": uuid.uuid4().hex,
    }
    form.update({k: v for k, v in values.items() if v is not None})
    if not form["key"]:
        form["key"] = uuid.uuid4().hex
    return {"opp_form": form}


def opportunities_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """The account's opportunities (open first) with the open pipeline's total and weighted
    amount in the account's currency, and the add form for CSMs and admins."""
    _, items = expansion_svc.account_opportunities(
        session, account_id=account.external_id, today=viewer.today
    )
    open_items = [v for v in items if v.is_open and v.opportunity.currency == account.currency]
    return {
        "opportunities": items,
        "opp_open_amount": sum((v.opportunity.amount for v in open_items), start=Decimal(0)),
        "opp_open_weighted": sum((v.weighted for v in open_items), start=Decimal(0)),
        "opp_open_count": len([v for v in items if v.is_open]),
        "opp_labels": opportunity_labels(viewer),
        "opp_kinds": OPPORTUNITY_KINDS,
        "opp_open_stages": expansion_rules.OPEN_STAGES,
        "opp_stages": expansion_rules.STAGES,
        "opp_lost_reasons": LOST_REASONS,
        "opp_can_edit": viewer.can_edit,
        "opp_errors": {},
        "opp_notices": {},
        "opp_form_errors": {},
        "opp_saved": False,
        "opp_account": account,
        **new_form(),
    }
