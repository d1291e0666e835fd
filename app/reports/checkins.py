"""Tech-touch check-ins: "Is your rollout going well?" to the champion of accounts that, in the
first ``checkin_from_day`` days (30) of their contract, attended no webinar and opened no support
ticket. It goes only inside its window, from day ``checkin_from_day`` to ``checkin_until_day``
(30 to 44) of the contract in the app's time zone, and never later: an account first seen on day
45 (an old book imported, a server down for weeks) is not asked "a few weeks have passed". The
outbox row carries the window's end as its deadline, so an SMTP outage cannot deliver it late.

The email carries three one-click links (Done / On track / Problem), each a signed token naming
the check-in and the answer. Opening a link records nothing: mail security scanners open every
link of a message, so a GET that recorded would answer for the customer (and the first scanned
link would win). The link opens a page with that answer preselected and one button; its POST
(``record_answer``) records the answer as an ``email_reply`` interaction
(``data: {"checkin": id, "answer": ...}``; a reply is what the answer is, and the existing type
keeps the interaction CHECK constraint and every report that counts replies unchanged), and
*Problem* opens a call task for the account's owner. Later clicks change nothing and are
acknowledged. Each account is asked once (``checkin.account_id`` is unique).

The wording is editable by admins per language (``email_template``), with ``$contact_name`` and
``$account_name`` placeholders (``string.Template``: no code runs from a template).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from string import Template
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, exists, select
from sqlmodel import Session, col

from app.config import Settings
from app.email import mailer, outbox
from app.errors import InvalidInput, NotFound, NotPermitted
from app.health import score_queue
from app.i18n import LANGUAGES, L10n
from app.lifecycle import tasks
from app.models import (
    CHECKIN_ANSWERS,
    Account,
    Checkin,
    Contact,
    EmailTemplate,
    Interaction,
    InteractionContact,
)
from app.rendering import env

CHECKIN_SALT = "checkin"
TEMPLATE_KEYS = ("checkin",)

DEFAULTS = {
    ("checkin", "en"): (
        "Is your rollout of our service going well?",
        "Hello $contact_name,\n\nIt has been a few weeks since $account_name started with us. "
        "How is the rollout going? One click tells us, and we will follow up if you need us.",
    ),
    ("checkin", "ja"): (
        "導入は順調に進んでいますか？",
        "$contact_name 様\n\n$account_name 様にご利用いただき始めてから数週間が経ちました。"
        "導入の状況はいかがでしょうか。下のボタンを一度押していただくだけで、状況に合わせて"
        "ご連絡いたします。",
    ),
}


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str
    customised: bool


def _check_key(key: str, language: str) -> None:
    if key not in TEMPLATE_KEYS:
        raise NotFound(f"no email template {key!r}")
    if language not in LANGUAGES:
        raise InvalidInput.field("language", f"must be one of {', '.join(LANGUAGES)}", "path")


def template(session: Session, *, key: str, language: str) -> Wording:
    """The admin's wording, or the default one."""
    _check_key(key, language)
    stored = session.get(EmailTemplate, (key, language))
    if stored is not None:
        return Wording(stored.subject, stored.body, True)
    subject, body = DEFAULTS[(key, language)]
    return Wording(subject, body, False)


def save_template(session: Session, *, key: str, language: str, subject: str, body: str,
                  actor: str, now: dt.datetime) -> Wording:
    """Store an admin's wording (placeholders are checked: only the known ones are allowed)."""
    _check_key(key, language)
    for field, text in (("subject", subject), ("body", body)):
        try:
            Template(text).substitute(contact_name="", account_name="")
        except (KeyError, ValueError) as exc:
            raise InvalidInput.field(field, "only $contact_name and $account_name may be used") from exc
    stored = session.get(EmailTemplate, (key, language)) or EmailTemplate(
        key=key, language=language, subject=subject, body=body, updated_by=actor, updated_at=now)
    stored.subject, stored.body, stored.updated_by, stored.updated_at = subject, body, actor, now
    session.add(stored)
    session.flush()
    return Wording(subject, body, True)


def reset_template(session: Session, *, key: str, language: str) -> Wording:
    """Go back to the default wording."""
    _check_key(key, language)
    stored = session.get(EmailTemplate, (key, language))
    if stored is not None:
        session.delete(stored)
        session.flush()
    return template(session, key=key, language=language)


def _signer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=CHECKIN_SALT)


def answer_link(settings: Settings, checkin_id: int, answer: str) -> str:
    token = _signer(settings).dumps({"c": checkin_id, "a": answer})
    return f"{settings.base_url.rstrip('/')}/c/{token}"


def due_accounts(session: Session, *, today: dt.date, from_day: int, until_day: int,
                 tz: ZoneInfo) -> list[Account]:
    """Active accounts between day ``from_day`` and ``until_day`` of their contract with no
    webinar attended and no support ticket in the first ``from_day`` days, and no check-in yet.
    Days are the team's (``tz``): the first days run from midnight of the contract's first day
    there."""
    rows = session.execute(
        select(Account).where(
            col(Account.status) == "active", col(Account.contract_start_on).is_not(None),
            col(Account.contract_start_on) <= today - dt.timedelta(days=from_day),
            col(Account.contract_start_on) >= today - dt.timedelta(days=until_day),
            ~exists().where(Checkin.account_id == Account.id),  # type: ignore[arg-type]
        ).order_by(col(Account.id))
    ).scalars().all()
    out = []
    for account in rows:
        assert account.contract_start_on is not None
        start = dt.datetime.combine(account.contract_start_on, dt.time(), tz).astimezone(dt.UTC)
        last = account.contract_start_on + dt.timedelta(days=from_day)
        end = dt.datetime.combine(last, dt.time(), tz).astimezone(dt.UTC)
        seen = session.execute(
            select(col(Interaction.id)).where(
                col(Interaction.account_id) == account.id,
                and_(col(Interaction.type).in_(("webinar", "support_ticket")),
                     col(Interaction.occurred_at) >= start, col(Interaction.occurred_at) < end),
            ).limit(1)
        ).first()
        if seen is None:
            out.append(account)
    return out


def window_end(settings: Settings, contract_start_on: dt.date) -> dt.datetime:
    """When an account's check-in window closes: the end of day ``checkin_until_day``."""
    last = contract_start_on + dt.timedelta(days=settings.checkin_until_day + 1)
    return dt.datetime.combine(last, dt.time(), settings.tz).astimezone(dt.UTC)


def send_checkins(session: Session, *, settings: Settings, now: dt.datetime,
                  language: str = "ja") -> int:
    """Queue a check-in to the champion of every account inside its window; how many."""
    sent = 0
    today = now.astimezone(settings.tz).date()
    for account in due_accounts(session, today=today, from_day=settings.checkin_from_day,
                                until_day=settings.checkin_until_day, tz=settings.tz):
        assert account.contract_start_on is not None
        champion = session.execute(
            select(Contact).where(col(Contact.account_id) == account.id, col(Contact.is_champion),
                                  col(Contact.status) == "active", col(Contact.email).is_not(None))
            .order_by(col(Contact.id)).limit(1)
        ).scalar_one_or_none()
        if champion is None or not champion.email:
            continue
        checkin = Checkin(account_id=account.id or 0, contact_id=champion.id, language=language,
                          sent_at=now)
        session.add(checkin)
        session.flush()
        subject, text, html = render(session, settings=settings, checkin=checkin,
                                     account=account, contact=champion)
        outbox.enqueue(session, kind="checkin", to=champion.email, subject=subject, text=text,
                       html=html, mail_from=settings.mail_from, now=now, account_id=account.id,
                       dedupe_key=f"checkin:{account.id}",
                       send_by=window_end(settings, account.contract_start_on))
        sent += 1
    return sent


def render(session: Session, *, settings: Settings, checkin: Checkin, account: Account,
           contact: Contact) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a check-in email."""
    values = {"contact_name": contact.name or contact.email or "", "account_name": account.name}
    return _render(session, settings=settings, language=checkin.language, values=values,
                   checkin_id=checkin.id or 0)


def sample(session: Session, *, settings: Settings, language: str) -> tuple[str, str, str]:
    """The check-in email as the current wording makes it, placeholders shown where the names
    go (the answer links name no check-in)."""
    _check_key("checkin", language)
    return _render(session, settings=settings, language=language, values={}, checkin_id=0)


def _render(session: Session, *, settings: Settings, language: str, values: dict[str, str],
            checkin_id: int) -> tuple[str, str, str]:
    wording = template(session, key="checkin", language=language)
    subject = mailer.one_line(Template(wording.subject).safe_substitute(values))
    body = Template(wording.body).safe_substitute(values)
    l10n = L10n(language, settings.tz)
    links = [(a, answer_link(settings, checkin_id, a)) for a in CHECKIN_ANSWERS]
    html = env.get_template("email/checkin.html").render(
        gettext=l10n.template_gettext, body=body, links=links, l10n=l10n, subject=subject)
    text = env.get_template("email/checkin.txt").render(
        gettext=l10n.gettext, body=body, links=links, l10n=l10n)
    return subject, text.strip() + "\n", html


@dataclass(frozen=True)
class Asked:
    checkin: Checkin
    answer: str  # the answer the opened link stands for (preselected on the page)


def read_link(session: Session, *, settings: Settings, token: str) -> Asked:
    """The check-in and answer a link names, recording nothing (403 tampered, 404 gone)."""
    try:
        payload = _signer(settings).loads(token)
    except BadSignature as exc:
        raise NotPermitted("this link is not valid") from exc
    answer = payload.get("a") if isinstance(payload, dict) else None
    checkin = session.get(Checkin, int(payload["c"])) if isinstance(payload, dict) else None
    if checkin is None or answer not in CHECKIN_ANSWERS:
        raise NotFound("this check-in no longer exists")
    return Asked(checkin, answer)


@dataclass(frozen=True)
class Answered:
    checkin: Checkin
    answer: str  # the answer on record (the first one given)
    first: bool  # this click recorded it


def record_answer(session: Session, *, settings: Settings, token: str, now: dt.datetime,
                  answer: str | None = None) -> Answered:
    """Record the answer confirmed on a link's page (by default the link's own; 403 for a
    tampered link); once answered, a repeat changes nothing."""
    asked = read_link(session, settings=settings, token=token)
    if answer is None:
        answer = asked.answer
    elif answer not in CHECKIN_ANSWERS:
        raise InvalidInput.field("answer", f"must be one of {', '.join(CHECKIN_ANSWERS)}", "form")
    checkin = session.get(Checkin, asked.checkin.id, with_for_update=True,
                          populate_existing=True)
    assert checkin is not None
    if checkin.answer is not None:
        return Answered(checkin, checkin.answer, False)
    account = session.get(Account, checkin.account_id)
    assert account is not None
    interaction = Interaction(
        account_id=account.id or 0, type="email_reply", occurred_at=now,
        external_id=f"checkin-{checkin.id}", author="customer",
        title=f"Check-in answer: {answer}", data={"checkin": checkin.id, "answer": answer},
        created_at=now,
    )
    session.add(interaction)
    session.flush()
    if checkin.contact_id is not None:
        session.add(InteractionContact(interaction_id=interaction.id or 0,
                                       contact_id=checkin.contact_id))
    checkin.answer, checkin.answered_at, checkin.interaction_id = answer, now, interaction.id
    if answer == "problem":
        task = tasks.create_task(
            session, account_id=account.external_id, title="Call: the rollout has a problem",
            action=None, due_on=now.astimezone(settings.tz).date() + dt.timedelta(days=1),
            assignee=None, description="The champion answered the rollout check-in with "
            "“Problem (let's talk)”. Call them.", actor="checkin", now=now,
        )
        checkin.task_id = task.task.id
    session.add(checkin)
    score_queue.mark_dirty(session, [account.id or 0], now)
    session.flush()
    return Answered(checkin, answer, True)
