"""Browser sign-in: throttling per email and per address, session lifetimes, clean-up."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from app.auth import web_auth
from app.auth.last_used import LastUsed
from app.models import LoginAttempt, WebSession
from tests.builders import AS_OF, make_user

PASSWORD = "correct horse battery"


def test_sign_in_and_resolve(session: Session) -> None:
    user = make_user(session)
    seen = LastUsed()

    signed = web_auth.sign_in(session, email=" CSM@example.com ", password=PASSWORD, ip="1.2.3.4",
                              now=AS_OF)

    assert signed.user.id == user.id
    assert web_auth.resolve(session, last_used=seen, token=signed.token, now=AS_OF) is user
    stored = session.exec(select(WebSession)).one()
    assert stored.token_hash != signed.token and len(stored.token_hash) == 64
    assert web_auth.resolve(session, last_used=seen, token="not-a-token", now=AS_OF) is None


def test_an_idle_or_old_session_ends(session: Session) -> None:
    make_user(session)
    seen = LastUsed()
    token = web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="ip",
                             now=AS_OF).token
    # Used every 7 hours, the session lives on, until its absolute limit.
    moment = AS_OF
    while moment + dt.timedelta(hours=7) - AS_OF <= web_auth.MAX_AGE:
        moment += dt.timedelta(hours=7)
        assert web_auth.resolve(session, last_used=seen, token=token, now=moment) is not None
    too_old = AS_OF + web_auth.MAX_AGE + dt.timedelta(hours=1)
    assert web_auth.resolve(session, last_used=seen, token=token, now=too_old) is None

    other = web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="ip",
                             now=AS_OF).token
    assert web_auth.resolve(session, last_used=seen, token=other, now=AS_OF + web_auth.IDLE_TIMEOUT
                            + dt.timedelta(seconds=1)) is None


def test_failures_are_throttled_per_email_then_forgotten(session: Session) -> None:
    make_user(session)
    for n in range(web_auth.MAX_FAILURES_PER_EMAIL):
        with pytest.raises(web_auth.BadCredentials):
            web_auth.sign_in(session, email="csm@example.com", password="wrong", ip=f"ip{n}",
                             now=AS_OF + dt.timedelta(minutes=n))

    with pytest.raises(web_auth.TooManyAttempts) as refused:
        web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="fresh",
                         now=AS_OF + dt.timedelta(minutes=5))
    assert refused.value.retry_after == dt.timedelta(minutes=10)

    later = AS_OF + web_auth.THROTTLE_WINDOW + dt.timedelta(minutes=1)
    assert web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="fresh",
                            now=later).user.email == "csm@example.com"
    assert session.exec(select(LoginAttempt)).all() == []  # a success clears the email's failures


def test_failures_are_throttled_per_address(session: Session) -> None:
    make_user(session)
    for n in range(web_auth.MAX_FAILURES_PER_IP):
        with pytest.raises(web_auth.BadCredentials):
            web_auth.sign_in(session, email=f"guess{n}@example.com", password="x", ip="6.6.6.6",
                             now=AS_OF)

    with pytest.raises(web_auth.TooManyAttempts):
        web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="6.6.6.6", now=AS_OF)
    assert web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="7.7.7.7",
                            now=AS_OF).user is not None


def test_purge_removes_ended_sessions_and_old_failures(session: Session) -> None:
    make_user(session)
    web_auth.sign_in(session, email="csm@example.com", password=PASSWORD, ip="ip", now=AS_OF)
    with pytest.raises(web_auth.BadCredentials):
        web_auth.sign_in(session, email="nobody@example.com", password="x", ip="ip", now=AS_OF)

    assert web_auth.purge_expired(session, now=AS_OF + dt.timedelta(minutes=5)) == 0
    assert web_auth.purge_expired(session, now=AS_OF + web_auth.IDLE_TIMEOUT + dt.timedelta(minutes=1)) == 1
    assert session.exec(select(WebSession)).all() == []
    assert session.exec(select(LoginAttempt)).all() == []


def test_preferences_are_validated(session: Session) -> None:
    user = make_user(session)

    web_auth.set_preferences(session, user=user, locale="en", timezone="Europe/Paris", now=AS_OF)
    assert (user.locale, user.timezone) == ("en", "Europe/Paris")
    with pytest.raises(Exception, match="locale"):
        web_auth.set_preferences(session, user=user, locale="fr", now=AS_OF)
    with pytest.raises(Exception, match="timezone"):
        web_auth.set_preferences(session, user=user, timezone="Mars/Olympus", now=AS_OF)
