"""The Monday digest: each CSM's action list for the week, by email, once per CSM and week.

From Monday 07:00 (in the app's time zone), and until the grace period after it ends
(``schedule_grace_hours``), the reports job queues one email per CSM who owns items on this
week's list (``priorities.week_view``); the outbox's ``dedupe_key`` (``digest:{user}:{week}``)
makes a second run, a restart or a second process queue nothing more. A server that was down over
Monday morning sends no late digest: that week's list is on ``/week``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import Session

from app.config import Settings
from app.email import outbox
from app.i18n import LANGUAGES, L10n
from app.priorities import service as priorities
from app.priorities.service import ItemView
from app.rendering import env
from app.reports.service import subject_of

#: Digests go out from Monday 07:00 in the app's time zone (a run at 06:59 waits).
SEND_FROM_HOUR = 7


def render(items: list[ItemView], suppressed: list[ItemView], *, week: str, name: str,
           language: str, settings: Settings) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one CSM's digest."""
    l10n = L10n(language if language in LANGUAGES else "ja", settings.tz)
    context = {"items": items, "suppressed": suppressed, "week": week, "name": name, "l10n": l10n,
               "link": f"{settings.base_url.rstrip('/')}/week?week={week}",
               "num": lambda v, d=1: l10n.number(v, d)}
    html_context = {"gettext": l10n.template_gettext, "ngettext": l10n.template_ngettext,
                    **context}
    subject = subject_of("email/digest.html", html_context)
    html = env.get_template("email/digest.html").render(html_context)
    text = env.get_template("email/digest.txt").render(
        gettext=l10n.gettext, ngettext=l10n.ngettext, subject=subject, **context)
    return subject, text.strip() + "\n", html


def send_digests(session: Session, *, settings: Settings, now: dt.datetime) -> int:
    """Queue this week's digest to every CSM with items on the list (once per CSM and week),
    only within the grace period after Monday 07:00."""
    today = now.astimezone(settings.tz).date()
    monday = today - dt.timedelta(days=today.weekday())
    due_at = dt.datetime.combine(monday, dt.time(SEND_FROM_HOUR), settings.tz)
    send_by = due_at + dt.timedelta(hours=settings.schedule_grace_hours)
    if not due_at <= now < send_by:
        return 0
    week = priorities.week_of(today)
    view = priorities.week_view(session, week=week, tz=settings.tz, now=now)
    ranked: dict[int, list[ItemView]] = defaultdict(list)
    quiet: dict[int, list[ItemView]] = defaultdict(list)
    owners = {}
    for item in view.items:
        if item.owner is not None and item.owner.is_active:
            ranked[item.owner.id or 0].append(item)
            owners[item.owner.id or 0] = item.owner
    for item in view.suppressed:
        if item.owner is not None and (item.owner.id or 0) in owners:
            quiet[item.owner.id or 0].append(item)
    queued = 0
    for owner_id, items in sorted(ranked.items()):
        owner = owners[owner_id]
        subject, text, html = render(items, quiet[owner_id], week=week, name=owner.name,
                                     language=owner.locale, settings=settings)
        row = outbox.enqueue(session, kind="digest", to=owner.email, subject=subject, text=text,
                             html=html, mail_from=settings.mail_from, now=now,
                             dedupe_key=f"digest:{owner_id}:{week}",
                             send_by=send_by.astimezone(dt.UTC))
        queued += row is not None
    return queued
