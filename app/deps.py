"""Dependency aliases, declared once: session (one commit per request), clock, settings, auth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.auth import api_keys, web_auth
from app.auth.last_used import LastUsed
from app.config import Settings
from app.db import open_session, utcnow
from app.email import outbox
from app.errors import NotAuthenticated, NotPermitted
from app.models import ApiKey, User

#: Requests that only read (RFC 9110 safe methods): their unit of work refuses writes.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_F = TypeVar("_F", bound=Callable[..., Any])


def writes_on_read(endpoint: _F) -> _F:
    """Mark a GET route that may write (it stores what the first reader computes, e.g. the
    week's action list), so its unit of work writes: on SQLite it takes the write lock first."""
    endpoint.writes_on_read = True  # type: ignore[attr-defined]
    return endpoint


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed after the route returns, before the response.

    A safe request (GET) only reads, unless its route is marked ``writes_on_read``; any other
    request writes, and on SQLite takes the write lock with its first statement, so it waits for
    a concurrent writer rather than failing with "database is locked" once that writer has
    committed.
    """
    writes = request.method not in SAFE_METHODS or getattr(
        request.scope.get("endpoint"), "writes_on_read", False
    )
    with open_session(request.app.state.engine, writes=writes) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_now(request: Request) -> dt.datetime:
    """The request's clock; tests replace ``app.state.clock``."""
    clock: Callable[[], dt.datetime] = getattr(request.app.state, "clock", utcnow)
    return clock()


def get_last_used(request: Request) -> LastUsed:
    """The process's notes of when API keys and web sessions were last used."""
    last_used: LastUsed = request.app.state.last_used
    return last_used


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
LastUsedDep = Annotated[LastUsed, Depends(get_last_used)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


def get_outbox_kick(request: Request, background: BackgroundTasks) -> Callable[[], None]:
    """Call it after queueing an email a person asked for: once the response is out (the
    request's commit comes before), those emails are delivered without waiting for the job."""
    app = request.app

    def kick() -> None:
        clock: Callable[[], dt.datetime] = getattr(app.state, "clock", utcnow)
        background.add_task(
            outbox.deliver_requested, app.state.engine, settings=app.state.settings, clock=clock
        )

    return kick


OutboxKickDep = Annotated[Callable[[], None], Depends(get_outbox_kick)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer bsk_...`")


def require_scope(need: str) -> Callable[..., ApiKey]:
    """A dependency that authenticates the Bearer API key and checks it has ``need`` scope."""

    def dependency(
        session: SessionDep,
        now: NowDep,
        last_used: LastUsedDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise NotAuthenticated("send an API key as `Authorization: Bearer <key>`")
        return api_keys.authenticate(
            session, token=credentials.credentials, need=need, now=now, last_used=last_used
        )

    dependency.__name__ = f"require_{need}_scope"
    return dependency


ReadKeyDep = Annotated[ApiKey, Depends(require_scope("read"))]
WriteKeyDep = Annotated[ApiKey, Depends(require_scope("write"))]
AdminKeyDep = Annotated[ApiKey, Depends(require_scope("admin"))]


# -- signed-in browser users (the HTML views) ---------------------------------------------------

#: The cookie holding a browser's session token (``app.auth.web_auth``).
SESSION_COOKIE = "bansou_session"


def get_optional_user(
    request: Request, session: SessionDep, now: NowDep, last_used: LastUsedDep
) -> User | None:
    """The signed-in user of this browser, or None (an ended session reads as signed out)."""
    if hasattr(request.state, "web_user"):
        cached: User | None = request.state.web_user
        return cached
    user = web_auth.resolve(
        session, token=request.cookies.get(SESSION_COOKIE, ""), now=now, last_used=last_used
    )
    if user is not None:
        # Detached, so the error page can still greet the user after a failed request's rollback
        # (which expires every attached row); a service that changes the user re-attaches it.
        session.expunge(user)
    request.state.web_user = user
    return user


OptionalUserDep = Annotated[User | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUserDep) -> User:
    """The signed-in user; 401 (the views answer it with the sign-in page) otherwise."""
    if user is None:
        raise NotAuthenticated("sign in to continue", scheme="Session")
    return user


CurrentUserDep = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str) -> Callable[..., User]:
    """A dependency: the signed-in user, who must have one of ``roles`` (403 otherwise)."""

    def dependency(user: CurrentUserDep) -> User:
        if user.role not in roles:
            raise NotPermitted(f"this needs the {' or '.join(roles)} role")
        return user

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


#: CSMs and admins change data; viewers only read.
EditorUserDep = Annotated[User, Depends(require_role("csm", "admin"))]
AdminUserDep = Annotated[User, Depends(require_role("admin"))]


def get_today(now: NowDep, settings: SettingsDep) -> dt.date:
    """Today in the team's time zone (``BANSOU_TIMEZONE``), which periods and weeks are in."""
    return now.astimezone(settings.tz).date()


TodayDep = Annotated[dt.date, Depends(get_today)]
