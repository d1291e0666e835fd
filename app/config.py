"""Settings, read from the environment (prefix ``BANSOU_``) and validated when the app starts."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError, InvalidInput
from app.smtp import SmtpConfig  # the outbox's own parse: no second rule

#: The key shipped for local development. Outside ``BANSOU_ENV=development`` it is refused.
DEV_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105  (refused outside development)


class Settings(BaseSettings):
    """Every setting Bansō reads; README.md documents each one."""

    model_config = SettingsConfigDict(env_prefix="BANSOU_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./bansou.db"
    secret_key: str = DEV_SECRET_KEY
    base_url: str = "http://127.0.0.1:8000"
    #: Outgoing mail server (``smtp://user:pass@host:port``, ``smtps://`` for TLS from the first
    #: byte, ``?starttls=true`` to upgrade). Empty: no server, emails wait in the outbox (/outbox).
    smtp_url: str = ""
    mail_from: str = "Bansō <bansou@localhost>"
    timezone: str = "Asia/Tokyo"
    log_level: str = "INFO"
    #: Largest request body accepted under /api (bytes); larger bodies get 413.
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: SQLite waits this long for a competing writer before failing (milliseconds).
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    #: SQLite's disk sync per commit: "full" survives a power cut; "normal" only a process crash.
    sqlite_synchronous: Literal["full", "normal"] = "full"
    #: Raw usage events older than this are purged daily; the daily rollups are kept.
    event_retention_days: int = Field(default=400, ge=1)
    #: ``/readyz`` answers 503 once the oldest message acknowledged by ``/v1`` has waited this
    #: long to be stored (seconds). The applier drains a flood's backlog once it ebbs; ten minutes
    #: is far past that at normal traffic yet short enough to page someone the same day.
    ingest_max_lag_seconds: int = Field(default=600, ge=1)
    #: Run periodic jobs (purge, and later scoring) inside `bansou serve`.
    scheduler_enabled: bool = True
    #: The tech-touch check-in goes once, only between these days of the contract (day 0 is the
    #: start): 30 and 44 → an account on day 35 is asked, one on day 45 or 300 never is.
    checkin_from_day: int = Field(default=30, ge=1)
    checkin_until_day: int = Field(default=44, ge=1)
    #: A scheduled email (report, Monday digest) is queued only this long after its due time;
    #: later (the server was down, the schedule is newer than the period) that period is skipped.
    #: 24 → a report due on the 1st at 00:00 goes out until the 2nd at 00:00, never after.
    schedule_grace_hours: int = Field(default=24, ge=1, le=24 * 7)
    #: Emails handed to the SMTP server per minute at most (person-requested ones first).
    outbox_rate_per_minute: int = Field(default=20, ge=1, le=10_000)
    #: While the SMTP server is unreachable, the email at the head of the queue is tried again
    #: this often; once the server is back the queue drains from the next try on.
    outbox_outage_retry_seconds: int = Field(default=60, ge=5, le=3600)
    #: /readyz answers 503 once a scheduled job has failed this many times in a row (retried
    #: after 1, 2 and 4 minutes, 3 failures span about 3 minutes); 0: jobs never make it 503.
    readyz_job_failures: int = Field(default=3, ge=0)
    #: A calibration proposes band cut-offs that put at most this share of active accounts in
    #: "bad" (a CSM team can act on a quarter of its book, not on half of it).
    calibration_bad_share_max: float = Field(default=0.25, ge=0.05, le=0.5)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from exc
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str) -> str:
        text = value.strip()
        try:
            SmtpConfig.from_url(text)
        except (InvalidInput, ValueError) as exc:  # ValueError: a port that is not a number
            raise ValueError("use smtp://user:pass@host:port, smtps://host:465, or leave it empty") from exc
        return text

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("postgres://") or value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; spell it out so SQLAlchemy does not look for psycopg2.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        if not (value.startswith("sqlite") or value.startswith("postgresql+psycopg://")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB")
        return value

    @model_validator(mode="after")
    def _secret_key_is_set_outside_development(self) -> Settings:
        if self.env != "development" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError(
                "BANSOU_SECRET_KEY is the development default; set it to a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
                f"before running with BANSOU_ENV={self.env}"
            )
        if self.checkin_until_day < self.checkin_from_day:
            raise ValueError("BANSOU_CHECKIN_UNTIL_DAY must not be before BANSOU_CHECKIN_FROM_DAY")
        if len(self.secret_key) < 16:
            raise ValueError("BANSOU_SECRET_KEY must be at least 16 characters long")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one readable message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"BANSOU_{loc.upper()}" if loc != "settings" else "settings"
            lines.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
