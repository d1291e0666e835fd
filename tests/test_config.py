"""Settings: validated when the app starts, with messages that name the variable to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import DEV_SECRET_KEY, ConfigError, Settings, load_settings

GOOD_KEY = "a-long-random-test-secret-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BANSOU_ variable or .env file from the developer's machine leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("BANSOU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_load_in_development() -> None:
    settings = load_settings()

    assert settings.env == "development"
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.is_sqlite
    assert str(settings.tz) == "Asia/Tokyo"


def test_environment_variables_use_the_bansou_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_ENV", "production")
    monkeypatch.setenv("BANSOU_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("BANSOU_MAX_BODY_BYTES", "2048")

    settings = load_settings()

    assert settings.env == "production"
    assert settings.secret_key == GOOD_KEY
    assert settings.max_body_bytes == 2048


@pytest.mark.parametrize("env", ["production", "test"])
def test_development_secret_key_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("BANSOU_ENV", env)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert "BANSOU_SECRET_KEY" in message
    assert "development default" in message
    assert f"BANSOU_ENV={env}" in message
    assert "Traceback" not in message


def test_explicit_development_secret_key_is_also_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BANSOU_ENV", "production")
    monkeypatch.setenv("BANSOU_SECRET_KEY", DEV_SECRET_KEY)

    with pytest.raises(ConfigError, match="BANSOU_SECRET_KEY"):
        load_settings()


def test_short_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_SECRET_KEY", "too-short")

    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_settings()


def test_unknown_timezone_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_TIMEZONE", "Mars/Olympus_Mons")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "BANSOU_TIMEZONE" in str(caught.value)
    assert "Mars/Olympus_Mons" in str(caught.value)


def test_known_timezone_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_TIMEZONE", "Europe/Berlin")

    assert str(load_settings().tz) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/bansou", "postgresql+psycopg://u:p@db:5432/bansou"),
        ("postgresql://u@db/bansou", "postgresql+psycopg://u@db/bansou"),
        ("postgresql+psycopg://u@db/bansou", "postgresql+psycopg://u@db/bansou"),
        ("sqlite:///./bansou.db", "sqlite:///./bansou.db"),
    ],
)
def test_database_url_is_normalised(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("BANSOU_DATABASE_URL", given)

    settings = load_settings()

    assert settings.database_url == expected
    assert settings.is_sqlite == expected.startswith("sqlite")


@pytest.mark.parametrize(
    "url", ["mysql://u@db/bansou", "postgresql+psycopg2://u@db/bansou", "bansou.db"]
)
def test_unsupported_database_url_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BANSOU_DATABASE_URL", url)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "BANSOU_DATABASE_URL" in str(caught.value)
    assert "postgresql+psycopg://" in str(caught.value)


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_TIMEZONE", "Nowhere/Special")
    monkeypatch.setenv("BANSOU_DATABASE_URL", "mysql://u@db/x")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "BANSOU_TIMEZONE" in str(caught.value)
    assert "BANSOU_DATABASE_URL" in str(caught.value)


def test_overrides_take_precedence_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANSOU_LOG_LEVEL", "DEBUG")

    settings = load_settings(log_level="WARNING")

    assert settings.log_level == "WARNING"


def test_max_body_bytes_has_a_floor() -> None:
    with pytest.raises(ConfigError, match="BANSOU_MAX_BODY_BYTES"):
        load_settings(max_body_bytes=10)
    assert Settings(max_body_bytes=1024).max_body_bytes == 1024
