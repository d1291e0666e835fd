"""Adoption reports: generate, preview, send through the outbox, read by signed link, revoke.

A report stores its numbers as generated, so the web view (``/r/{token}``) shows what was sent.
The link's token is the report id signed with the app's secret (``itsdangerous``); the report's
row says when it expires (30 days by default) and whether it was revoked, so a tampered token is
refused (403) and an expired or revoked one is gone (410) — both decided by the database and the
request's clock, not by the token alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2_fragments import render_block
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts.service import get_account
from app.config import Settings
from app.db import dialect_insert, table_of
from app.email import mailer, outbox
from app.errors import FieldError, Gone, InvalidInput, NotFound, NotPermitted
from app.health import score_queue
from app.i18n import LANGUAGES, L10n
from app.models import Account, AdoptionReport, Contact, Interaction, InteractionContact, ReportSchedule
from app.rendering import env
from app.reports import adoption
from app.scoring.playbooks import ACTIONS

log = logging.getLogger("bansou.reports")

LINK_DAYS = 30
REPORT_SALT = "adoption-report"


def _signer(settings: Settings, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=salt)


def token_for(settings: Settings, report_id: int) -> str:
    return _signer(settings, REPORT_SALT).dumps({"r": report_id})


def link_for(settings: Settings, report_id: int) -> str:
    return f"{settings.base_url.rstrip('/')}/r/{token_for(settings, report_id)}"


def report_by_token(session: Session, *, settings: Settings, token: str,
                    now: dt.datetime) -> AdoptionReport:
    """The report a link names: 403 if the token was tampered with, 410 if expired or revoked."""
    try:
        payload = _signer(settings, REPORT_SALT).loads(token)
    except BadSignature as exc:
        raise NotPermitted("this link is not valid") from exc
    report = session.get(AdoptionReport, int(payload["r"]))
    if report is None or report.revoked_at is not None:
        raise Gone("this report has been withdrawn")
    if now >= report.expires_at:
        raise Gone("this link has expired")
    return report


def find_by_key(session: Session, dedupe_key: str) -> AdoptionReport | None:
    return session.exec(
        select(AdoptionReport).where(AdoptionReport.dedupe_key == dedupe_key)
    ).first()


def get_report(session: Session, report_id: int) -> AdoptionReport:
    report = session.get(AdoptionReport, report_id)
    if report is None:
        raise NotFound(f"no adoption report {report_id}")
    return report


def recent_reports(session: Session, *, account_id: str, limit: int = 5) -> list[AdoptionReport]:
    """The account's newest reports (sent, or generated through the API), newest first."""
    account = get_account(session, account_id)
    return list(session.exec(
        select(AdoptionReport).where(col(AdoptionReport.account_id) == account.id)
        .order_by(col(AdoptionReport.created_at).desc(), col(AdoptionReport.id).desc())
        .limit(limit)
    ).all())


def revoke(session: Session, *, report_id: int, now: dt.datetime) -> AdoptionReport:
    """Withdraw the report's link (idempotent: the first revocation time is kept)."""
    report = get_report(session, report_id)
    if report.revoked_at is None:
        report.revoked_at = now
        session.add(report)
        session.flush()
    return report


# -- recipients ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    contact_id: int | None


def resolve_recipients(
    session: Session, account: Account, *, contact_ids: list[int], emails: list[str]
) -> list[Recipient]:
    """The account's contacts by id and by email (no address outside the account's contacts)."""
    errors: list[FieldError] = []
    contacts = list(session.exec(
        select(Contact).where(Contact.account_id == account.id, Contact.status == "active")
    ).all())
    by_id = {c.id: c for c in contacts}
    by_email = {(c.email or "").lower(): c for c in contacts if c.email}
    chosen: dict[str, Recipient] = {}
    for i, cid in enumerate(contact_ids):
        c = by_id.get(cid)
        if c is None or not c.email:
            errors.append(FieldError(f"contact_ids[{i}]", "not a contact of this account with an email"))
            continue
        chosen[c.email.lower()] = Recipient(c.email, c.name, c.id)
    for i, address in enumerate(emails):
        c = by_email.get(address.strip().lower())
        if c is None or not c.email:
            errors.append(FieldError(f"emails[{i}]", "not the email of a contact of this account"))
            continue
        chosen[c.email.lower()] = Recipient(c.email, c.name, c.id)
    if errors:
        raise InvalidInput(errors)
    return list(chosen.values())


def recipient_choices(session: Session, *, account_id: str) -> list[tuple[Contact, bool]]:
    """The account's contacts who can receive a report, champions first and preselected."""
    account = get_account(session, account_id)
    contacts = session.exec(
        select(Contact).where(col(Contact.account_id) == account.id,
                              col(Contact.status) == "active", col(Contact.email).is_not(None))
        .order_by(col(Contact.is_champion).desc(), col(Contact.name), col(Contact.id))
    ).all()
    return [(c, c.is_champion) for c in contacts]


# -- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _language(language: str | None) -> str:
    if language is None:
        return "ja"
    if language not in LANGUAGES:
        raise InvalidInput.field("language", f"must be one of {', '.join(LANGUAGES)}")
    return language


def report_context(data: dict[str, Any], *, account_name: str, language: str, tz: ZoneInfo,
                   message: str | None, link: str | None) -> dict[str, Any]:
    l10n = L10n(language, tz)
    actions = {k: (a.name_ja if language == "ja" else a.name_en) for k, a in ACTIONS.items()}
    features = {d["key"]: d["name"] for d in data["depth"]}
    deepest = max((d["per_user"]["value"] or 0 for d in data["depth"]), default=0) or 1
    return {
        "r": data, "account_name": account_name, "l10n": l10n, "message": message, "link": link,
        "actions": actions, "feature_names": features, "depth_max": deepest,
        "day": lambda iso: l10n.date(dt.date.fromisoformat(iso)),
        "pct": l10n.percent,
        "num": lambda v, d=1: l10n.number(v, d),
        "bar": lambda v: max(0, min(100, round((v or 0) * 100))),
    }


def render_email(context: dict[str, Any]) -> Rendered:
    """Subject, plain text and HTML of the email (text rendered without HTML escaping)."""
    l10n: L10n = context["l10n"]
    html_context = {"gettext": l10n.template_gettext, "ngettext": l10n.template_ngettext,
                    **context}
    html = env.get_template("email/adoption_report.html").render(html_context)
    text = env.get_template("email/adoption_report.txt").render(
        gettext=l10n.gettext, ngettext=l10n.ngettext, **context)
    return Rendered(subject_of("email/adoption_report.html", html_context), text.strip() + "\n",
                    html)


def subject_of(template: str, context: dict[str, Any]) -> str:
    """An email's subject: its HTML template's ``subject`` block, as plain text on one line."""
    html = Markup(render_block(env, template, "subject", context))  # noqa: S704  (unescaped, not shown)
    return mailer.one_line(html.unescape())


def render_web(session: Session, report: AdoptionReport, *, tz: ZoneInfo) -> str:
    """The customer's web view of a stored report."""
    account = session.get(Account, report.account_id)
    assert account is not None  # the report goes with its account (ON DELETE CASCADE)
    context = report_context(report.data, account_name=account.name, language=report.language,
                             tz=tz, message=report.message, link=None)
    l10n: L10n = context["l10n"]
    return env.get_template("report/view.html").render(
        gettext=l10n.template_gettext, ngettext=l10n.template_ngettext, **context)


def preview_report(
    session: Session, *, settings: Settings, account_id: str, start: dt.date | None,
    end: dt.date | None, language: str | None, message: str | None, now: dt.datetime,
) -> Rendered:
    """Exactly the subject, text and HTML that sending would queue (the link is a placeholder
    until the report is saved)."""
    account = get_account(session, account_id)
    data = adoption.as_json(adoption.account_adoption(
        session, account_id=account_id, start=start, end=end,
        today=now.astimezone(settings.tz).date(), tz=settings.tz))
    context = report_context(data, account_name=account.name, language=_language(language),
                             tz=settings.tz, message=message,
                             link=f"{settings.base_url.rstrip('/')}/r/…")
    return render_email(context)


def generate(
    session: Session, *, settings: Settings, account_id: str, start: dt.date | None,
    end: dt.date | None, language: str | None, message: str | None, contact_ids: list[int],
    emails: list[str], actor: str, now: dt.datetime, dedupe_key: str | None = None,
    priority: int = outbox.PRIORITY_PERSON, send_by: dt.datetime | None = None,
) -> AdoptionReport | None:
    """Save a report and queue it to the recipients, recording each send on the timeline.
    With ``dedupe_key``, None if a report with that key exists already (``find_by_key``).
    A person's send goes before bulk mail; a scheduled one passes its priority and deadline."""
    account = get_account(session, account_id)
    language = _language(language)
    if message is not None and len(message) > 5000:
        raise InvalidInput.field("message", "at most 5,000 characters")
    recipients = resolve_recipients(session, account, contact_ids=contact_ids, emails=emails)
    if dedupe_key is not None and find_by_key(session, dedupe_key) is not None:
        return None
    data = adoption.as_json(adoption.account_adoption(
        session, account_id=account_id, start=start, end=end,
        today=now.astimezone(settings.tz).date(), tz=settings.tz))
    report = AdoptionReport(
        account_id=account.id or 0, period_start=dt.date.fromisoformat(data["start"]),
        period_end=dt.date.fromisoformat(data["end"]), language=language, message=message,
        data=data, recipients=[r.email for r in recipients], dedupe_key=dedupe_key,
        created_by=actor, created_at=now, expires_at=now + dt.timedelta(days=LINK_DAYS),
    )
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None  # the same key committed meanwhile (a double submit): that one stands
    assert report.id is not None
    if recipients:
        rendered = render_email(report_context(
            data, account_name=account.name, language=language, tz=settings.tz, message=message,
            link=link_for(settings, report.id)))
        for r in recipients:
            outbox.enqueue(session, kind="report", to=r.email, subject=rendered.subject,
                           text=rendered.text, html=rendered.html, mail_from=settings.mail_from,
                           now=now, account_id=account.id, priority=priority, send_by=send_by)
        _record_sent(session, account, report, rendered.subject, recipients, actor, now)
    return report


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The period a report covers unless told otherwise: the last whole month before today's."""
    return adoption.period_of(None, None, today=today)


@dataclass(frozen=True)
class Sent:
    report: AdoptionReport
    first: bool  # False: the same send key was used before, and this is that report


def send_summary(
    session: Session, *, settings: Settings, account_id: str, start: dt.date | None,
    end: dt.date | None, language: str | None, message: str | None, contact_ids: list[int],
    send_key: str, actor: str, now: dt.datetime,
) -> Sent:
    """Send a CSM's adoption summary to at least one of the account's contacts; the same
    ``send_key`` again (a double submit) sends nothing more and names the first report."""
    if not contact_ids:
        raise InvalidInput.field("contact_ids", "choose at least one recipient", "form")
    if not send_key.strip() or len(send_key) > 64:
        raise InvalidInput.field("key", "a send key of 1 to 64 characters is needed", "form")
    dedupe_key = f"web:{account_id}:{send_key}"
    report = generate(
        session, settings=settings, account_id=account_id, start=start, end=end,
        language=language, message=message, contact_ids=contact_ids, emails=[], actor=actor,
        now=now, dedupe_key=dedupe_key,
    )
    if report is not None:
        return Sent(report, True)
    first = find_by_key(session, dedupe_key)
    assert first is not None
    return Sent(first, False)


def _record_sent(session: Session, account: Account, report: AdoptionReport, subject: str,
                 recipients: list[Recipient], actor: str, now: dt.datetime) -> None:
    """One ``email_sent`` interaction on the account's timeline, linked to the recipients."""
    interaction = Interaction(
        account_id=account.id or 0, type="email_sent", occurred_at=now,
        external_id=f"adoption-report-{report.id}", author=actor, title=subject,
        data={"subject": subject, "adoption_report_id": report.id,
              "recipients": [r.email for r in recipients]},
        created_at=now,
    )
    session.add(interaction)
    session.flush()
    for contact_id in sorted({r.contact_id for r in recipients if r.contact_id is not None}):
        session.add(InteractionContact(interaction_id=interaction.id or 0, contact_id=contact_id))
    score_queue.mark_dirty(session, [account.id or 0], now)
    session.flush()


def report_view(session: Session, report: AdoptionReport, settings: Settings) -> dict[str, Any]:
    account = session.get(Account, report.account_id)
    return {
        "id": report.id, "account_id": account.external_id if account else None,
        "start": report.period_start, "end": report.period_end, "language": report.language,
        "message": report.message, "recipients": report.recipients,
        "created_by": report.created_by, "created_at": report.created_at,
        "expires_at": report.expires_at, "revoked_at": report.revoked_at,
        "link": link_for(settings, report.id or 0), "report": report.data,
    }


# -- scheduled reports ---------------------------------------------------------------------------


def period_due(schedule: ReportSchedule, today: dt.date) -> tuple[str, dt.date, dt.date] | None:
    """The period a schedule reports on ``today``, if its day has come: monthly → last month
    (from day N of this month); quarterly → last quarter (from day N of Jan, Apr, Jul, Oct)."""
    if today.day < schedule.day_of_month:
        return None
    if schedule.cadence == "monthly":
        start, end = adoption.pure.month_of(today.replace(day=1) - dt.timedelta(days=1))
        return f"{start:%Y-%m}", start, end
    quarter_first_month = 3 * ((today.month - 1) // 3) + 1
    this_quarter = today.replace(month=quarter_first_month, day=1)
    end = this_quarter - dt.timedelta(days=1)
    start = end.replace(day=1, month=3 * ((end.month - 1) // 3) + 1)
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}", start, end


def due_time(schedule: ReportSchedule, end: dt.date, tz: ZoneInfo) -> dt.datetime:
    """When the report on a period ending ``end`` is due: day N after it, 00:00 in ``tz``."""
    day = (end + dt.timedelta(days=1)).replace(day=schedule.day_of_month)
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def create_schedule(
    session: Session, *, account_id: str, cadence: str, day_of_month: int, recipients: list[str],
    language: str | None, now: dt.datetime,
) -> ReportSchedule:
    """Automatic adoption reports for an account to some of its contacts (asking for the same
    schedule twice gives the existing one)."""
    account = get_account(session, account_id)
    if cadence not in ("monthly", "quarterly"):
        raise InvalidInput.field("cadence", "must be monthly or quarterly")
    if not 1 <= day_of_month <= 28:
        raise InvalidInput.field("day_of_month", "must be between 1 and 28")
    if not recipients:
        raise InvalidInput.field("recipients", "name at least one contact's email")
    resolved = resolve_recipients(session, account, contact_ids=[], emails=recipients)
    language = _language(language)
    wanted = sorted(r.email.lower() for r in resolved)
    for existing in list_schedules(session, account_id=account_id):
        if (existing.cadence, existing.day_of_month, existing.language) == (
            cadence, day_of_month, language
        ) and sorted(e.lower() for e in existing.recipients) == wanted:
            return existing  # the same schedule again (a double submit): one is enough
    schedule = ReportSchedule(
        account_id=account.id or 0, cadence=cadence, day_of_month=day_of_month,
        recipients=[r.email for r in resolved], language=language, created_at=now,
    )
    session.add(schedule)
    session.flush()
    return schedule


def list_schedules(session: Session, *, account_id: str) -> list[ReportSchedule]:
    """The account's report schedules, oldest first."""
    account = get_account(session, account_id)
    return list(session.exec(
        select(ReportSchedule).where(col(ReportSchedule.account_id) == account.id)
        .order_by(col(ReportSchedule.id))
    ).all())


def get_schedule(session: Session, *, account_id: str, schedule_id: int) -> ReportSchedule:
    account = get_account(session, account_id)
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None or schedule.account_id != account.id:
        raise NotFound(f"no report schedule {schedule_id} for account {account_id!r}")
    return schedule


def delete_schedule(session: Session, *, account_id: str, schedule_id: int) -> None:
    """Stop a schedule (reports it already sent stay)."""
    session.delete(get_schedule(session, account_id=account_id, schedule_id=schedule_id))
    session.flush()


def schedule_view(schedule: ReportSchedule, account_id: str) -> dict[str, Any]:
    return {"id": schedule.id, "account_id": account_id, "cadence": schedule.cadence,
            "day_of_month": schedule.day_of_month, "recipients": schedule.recipients,
            "language": schedule.language, "enabled": schedule.enabled,
            "created_at": schedule.created_at}


def run_schedules(session: Session, *, settings: Settings, now: dt.datetime) -> int:
    """Generate every due scheduled report not generated yet (one per schedule and period),
    only within the grace period after its due time, and never for a period that was due
    before the schedule existed: a server down for a week, or a schedule created today, sends
    nothing for the periods it missed."""
    today = now.astimezone(settings.tz).date()
    grace = dt.timedelta(hours=settings.schedule_grace_hours)
    made = 0
    for schedule in session.exec(
        select(ReportSchedule).where(col(ReportSchedule.enabled).is_(True))
        .order_by(col(ReportSchedule.id))
    ).all():
        due = period_due(schedule, today)
        account = session.get(Account, schedule.account_id)
        if due is None or account is None or account.status != "active":
            continue
        key, start, end = due
        due_at = due_time(schedule, end, settings.tz)
        if not schedule.created_at <= due_at <= now < due_at + grace:
            continue
        try:
            with session.begin_nested():
                report = generate(
                    session, settings=settings, account_id=account.external_id, start=start,
                    end=end, language=schedule.language, message=None, contact_ids=[],
                    emails=schedule.recipients, actor="schedule", now=now,
                    dedupe_key=f"schedule:{schedule.id}:{key}",
                    priority=outbox.PRIORITY_BULK, send_by=due_at + grace,
                )
        except InvalidInput as exc:
            # A recipient is no longer a contact: this schedule waits for a fix, others go on.
            log.warning("report schedule %s skipped: %s", schedule.id, exc.detail)
            continue
        made += report is not None
    return made


def record_open(session: Session, *, report: AdoptionReport, now: dt.datetime) -> bool:
    """The first opening of a sent report's link, as an ``email_click`` on the account's timeline
    (it counts towards the customer response rate); later openings add nothing."""
    if not report.recipients:
        return False
    key = f"adoption-report-{report.id}-opened"
    if session.exec(select(Interaction.id).where(Interaction.external_id == key)).first():
        return False
    insert = dialect_insert(session, table_of(Interaction)).values(
        account_id=report.account_id, type="email_click", occurred_at=now, external_id=key,
        author="customer", title="Opened the adoption summary",
        data={"adoption_report_id": report.id}, created_at=now,
    ).on_conflict_do_nothing(index_elements=["external_id"])
    added = bool(session.execute(insert).rowcount)  # type: ignore[attr-defined]
    if added:
        score_queue.mark_dirty(session, [report.account_id], now)
    return added
