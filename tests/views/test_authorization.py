"""Who may open each page and send each form: every page route × anonymous / viewer / csm / admin.

The routes come from the app itself, so a new page joins the matrix by existing. Each route's
required role is read from its dependencies (``app.deps``): ``require_role("admin")`` → admin,
``require_role("csm", "admin")`` → editor, ``get_current_user`` → any signed-in user, none of
these → public. A public route, or a form that a viewer may send, must be listed below: adding
one is a reviewed decision, and a route missing from the lists fails.

Every request carries a valid CSRF token, so what is checked is the role, not the token.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.auth.security import digest
from app.config import Settings
from app.deps import SESSION_COOKIE
from app.models import User, WebSession
from app.views.page import CSRF_COOKIE, csrf_token
from tests.builders import AS_OF, make_account, make_user
from tests.helpers import schema_app

ROLES = ("viewer", "csm", "admin")
#: Paths that are not pages: the JSON API, Segment ingestion, static files.
NOT_PAGES = ("/api/", "/v1/", "/static/", "/openapi.json")

#: Pages anyone may open, signed in or not.
PUBLIC_PAGES = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/docs"),
        ("GET", "/login"),
        ("GET", "/r/{token}"),
        ("HEAD", "/r/{token}"),  # a shared report: the token is the key
        ("GET", "/c/{token}"),
        ("HEAD", "/c/{token}"),  # a customer's answer page: the same
    }
)
#: Forms anyone may send.
PUBLIC_FORMS = frozenset(
    {
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/preferences"),  # language for a signed-out reader, or the reader's own settings
        ("POST", "/c/{token}"),  # a customer's answer to a report
    }
)
#: Forms that carry their own credentials: what they answer depends on the form, not the role.
CREDENTIAL_FORMS = frozenset({("POST", "/login")})
#: Forms any signed-in user, viewers included, may send (they change only the sender's own
#: things). Every other form needs the csm or admin role.
PERSONAL_FORMS: frozenset[tuple[str, str]] = frozenset()

_ROLE_DEPENDENCIES = {"require_admin": "admin", "require_csm_or_admin": "editor", "get_current_user": "user"}
_RANK = ("public", "user", "editor", "admin")


def _needs(dependant: Dependant) -> str:
    found = {"public"}
    stack = [dependant]
    while stack:
        dep = stack.pop()
        found.add(_ROLE_DEPENDENCIES.get(getattr(dep.call, "__name__", ""), "public"))
        stack.extend(dep.dependencies)
    return max(found, key=_RANK.index)


def page_routes() -> list[tuple[str, str, str]]:
    """(METHOD, path, what it needs) for every route that is not the API."""
    out = []
    for ctx in iter_route_contexts(schema_app().routes):
        if not isinstance(ctx.original_route, APIRoute) or str(ctx.path).startswith(NOT_PAGES):
            continue
        for method in sorted(ctx.methods or ()):
            out.append((method, str(ctx.path), _needs(ctx.dependant)))
    return sorted(out)


ROUTES = page_routes()


def test_the_matrix_covers_every_page() -> None:
    paths = {(m, p) for m, p, _ in ROUTES}

    assert len(ROUTES) >= 60
    assert {
        ("GET", "/"),
        ("GET", "/settings"),
        ("POST", "/accounts/{account_id}/plans"),
        ("GET", "/kpis/interventions"),
    } <= paths
    assert paths >= (PUBLIC_PAGES | PUBLIC_FORMS | PERSONAL_FORMS), "a listed route is gone"


@pytest.mark.parametrize(("method", "path", "needs"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_needs_a_role_or_is_listed(method: str, path: str, needs: str) -> None:
    if needs == "public":
        listed = PUBLIC_PAGES if method in {"GET", "HEAD"} else PUBLIC_FORMS
        assert (method, path) in listed, f"{method} {path} is open to anyone: list it or guard it"
    elif needs == "user" and method not in {"GET", "HEAD"}:
        assert (method, path) in PERSONAL_FORMS, (
            f"{method} {path} lets viewers change data: guard it with EditorUserDep or list it"
        )


# -- the requests ----------------------------------------------------------------------------

#: Path parameter values: rows that exist where it is cheap, otherwise ids that do not (a 404
#: still shows the request got past the role check).
PARAMS = {
    "account_id": "acme",
    "token": "no-such-token",
    "section": "users",
    "key": "report",
    "language": "en",
}


def _concrete(path: str) -> str:
    for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        path = path.replace(f"{{{name}}}", PARAMS.get(name, "999"))
    return path


class Browser:
    """A browser of one role (or none): its cookies and CSRF token, set without signing in."""

    def __init__(self, app: FastAPI, settings: Settings, session_token: str = "") -> None:
        seed = secrets.token_urlsafe(32)
        self.client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        self.client.cookies.set(CSRF_COOKIE, seed)
        if session_token:
            self.client.cookies.set(SESSION_COOKIE, session_token)
        self.token = csrf_token(settings, seed, session_token)

    def send(self, method: str, path: str, *, htmx: bool = False) -> Any:
        headers = {"Accept": "text/html", "Accept-Language": "en", "X-CSRF-Token": self.token}
        if htmx:
            headers["HX-Request"] = "true"
        data = {"csrf_token": self.token} if method not in {"GET", "HEAD"} else None
        return self.client.request(method, _concrete(path), headers=headers, data=data)


def _signed_in(engine: Engine, email: str) -> str:
    token = secrets.token_urlsafe(32)
    with Session(engine) as s:
        user = s.exec(User.__table__.select().where(User.__table__.c.email == email)).first()
        assert user is not None
        s.add(WebSession(token_hash=digest(token), user_id=user.id, created_at=AS_OF, last_seen_at=AS_OF))
        s.commit()
    return token


@pytest.fixture
def browsers(app: FastAPI, client: TestClient, engine: Engine, settings: Settings) -> dict[str, Browser]:
    """One browser per role plus an anonymous one, sharing the app ``client`` started."""
    with Session(engine) as s:
        for role in ROLES:
            make_user(s, email=f"{role}@example.com", role=role, name=role.title())
        make_account(s, id="acme", owner="csm@example.com")
        s.commit()
    out = {"anonymous": Browser(app, settings)}
    for role in ROLES:
        out[role] = Browser(app, settings, _signed_in(engine, f"{role}@example.com"))
    return out


def _allowed(role: str, needs: str) -> bool:
    return {
        "public": True,
        "user": role in ROLES,
        "editor": role in {"csm", "admin"},
        "admin": role == "admin",
    }[needs]


@pytest.mark.parametrize(("method", "path", "needs"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_authorization_matrix(
    browsers: dict[str, Browser], subtests: pytest.Subtests, method: str, path: str, needs: str
) -> None:
    """Refused browsers go first and change nothing; then the allowed roles, least first."""
    statuses = set()
    for who in ("anonymous", *ROLES):
        with subtests.test(who=who):
            response = browsers[who].send(method, path)
            statuses.add(response.status_code)

            assert response.status_code < 500, response.text[:500]
            if (method, path) in CREDENTIAL_FORMS:
                continue
            if "{token}" in path:
                # The link's token is the credential (a wrong one is 403), whoever holds it.
                assert needs == "public"
                assert len(statuses) == 1, statuses
            elif _allowed(who, needs):
                assert response.status_code not in {401, 403}, response.text[:500]
                if needs != "public":
                    assert not response.headers.get("location", "").startswith("/login")
            elif who == "anonymous":
                assert response.status_code == 303, response.text[:500]
                assert response.headers["location"].startswith("/login")
                from_htmx = browsers[who].send(method, path, htmx=True)
                assert from_htmx.headers.get("hx-redirect", "").startswith("/login")
            else:
                assert response.status_code == 403, response.text[:500]
