"""SMTP delivery: the server named by ``BANSOU_SMTP_URL``, and messages built with ``email``.

``smtp://user:pass@host:port`` (plain, or ``?starttls=true`` to upgrade), ``smtps://host:465``
(TLS from the first byte). An empty URL (or ``none``) means no SMTP server: emails stay queued in
the outbox, readable at ``/outbox``.

Failures are sorted for the outbox: a refused or dropped connection, a timeout or a 421 answer is
``Unavailable`` (the server, not this message: the sender stops and tries again shortly); another
4xx answer is ``Transient`` (this message is retried later); a 5xx answer is ``Permanent`` (the
row fails with the answer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from app.errors import MailPermanent, MailTransient, MailUnavailable
from app.smtp import SmtpConfig

#: Seconds one delivery may take in all (connect to the last answer); a third of the outbox's
#: per-message lease (90 s), so a live sender always marks its message before the lease ends.
SEND_TIMEOUT = 30.0


def domain_of(mail_from: str) -> str:
    """The sender's domain, for Message-IDs (``Bansō <bansou@example.com>`` → example.com)."""
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def new_message_id(mail_from: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain_of(mail_from)}>"


def one_line(text: str) -> str:
    """``text`` fit for a header: every run of whitespace, line breaks included, is one space.
    A subject holds account and contact names, and a line break there would end the header."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Mail:
    """What the outbox holds for one email."""

    to: str
    subject: str
    text: str
    html: str | None
    message_id: str


def build_message(mail: Mail, *, mail_from: str, date: dt.datetime) -> EmailMessage:
    """A multipart/alternative message (plain text first, HTML preferred) with fixed headers."""
    message = EmailMessage()
    name, address = parseaddr(mail_from)
    message["From"] = Address(display_name=name, addr_spec=address) if name else address
    message["To"] = mail.to
    message["Subject"] = one_line(mail.subject)
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(date)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _classify(code: int, text: str) -> Exception:
    reason = f"{code} {text}".strip()
    if code == 421:
        return MailUnavailable(reason)
    return MailPermanent(reason) if 500 <= code < 600 else MailTransient(reason)


async def deliver(config: SmtpConfig, message: EmailMessage) -> None:
    """Send one message; raise ``Transient`` or ``Permanent`` when it was not accepted."""
    context = ssl.create_default_context() if (config.use_tls or config.start_tls) else None
    try:
        async with asyncio.timeout(SEND_TIMEOUT):  # aiosmtplib's timeout is per command
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                start_tls=config.start_tls,
                tls_context=context,
                timeout=SEND_TIMEOUT,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        worst = max(exc.recipients, key=lambda r: r.code)
        raise _classify(worst.code, worst.message) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise _classify(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailUnavailable(f"{type(exc).__name__}: {exc}") from exc
