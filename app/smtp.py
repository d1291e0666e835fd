"""The outgoing mail server named by ``BANSOU_SMTP_URL``: one parse, shared by the settings (which
refuse a URL it cannot read) and the outbox (which delivers to it).

``smtp://user:pass@host:port`` (plain, or ``?starttls=true`` to upgrade), ``smtps://host:465``
(TLS from the first byte). An empty URL (or ``none``) means no SMTP server.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from app.errors import FieldError, InvalidInput


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig | None:
        """The server of an SMTP URL, or None when no server is configured."""
        if not url.strip() or url.strip().lower() == "none":
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInput(
                [
                    FieldError(
                        "BANSOU_SMTP_URL", "use smtp://user:pass@host:port or smtps://host:465", "setting"
                    )
                ]
            )
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
            start_tls=not tls and query.get("starttls", ["false"])[0].lower() in ("1", "true"),
        )
