"""Dependency aliases, declared once: session (one commit per request), clock, settings, auth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.config import Settings
from app.db import utcnow
from app.errors import NotAuthenticated
from app.models import ApiKey
from app.services import api_keys


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed after the route returns, before the response."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
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


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[dt.datetime, Depends(get_now)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer bsk_...`")


def require_scope(need: str) -> Callable[..., ApiKey]:
    """A dependency that authenticates the Bearer API key and checks it has ``need`` scope."""

    def dependency(
        session: SessionDep,
        now: NowDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise NotAuthenticated("send an API key as `Authorization: Bearer <key>`")
        return api_keys.authenticate(session, token=credentials.credentials, need=need, now=now)

    dependency.__name__ = f"require_{need}_scope"
    return dependency


ReadKeyDep = Annotated[ApiKey, Depends(require_scope("read"))]
WriteKeyDep = Annotated[ApiKey, Depends(require_scope("write"))]
AdminKeyDep = Annotated[ApiKey, Depends(require_scope("admin"))]
