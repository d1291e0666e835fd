"""Stored HTML injection: every page and every email, rendered with hostile text in every field a
user, an API client, a CSV file or a Segment call can set, carries none of that text as markup.

The pages come from the app's own routes (every GET view that answers HTML, its path parameters
filled from the seeded data), so a new page is covered the day it is added. Each page is parsed
with ``html.parser`` and must contain no element or attribute the corpus would introduce. The
CSV downloads must start no cell with a formula character, and no email subject may hold a line
break.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from jinja2 import nodes
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.auth import users
from app.email import mailer
from app.health import snapshots as health_snapshots
from app.i18n import L10n
from app.models import AdoptionReport, Checkin, HealthModel, Outbox
from app.priorities import digest
from app.priorities import service as priorities
from app.rendering import TEMPLATES_DIR, env
from app.reports import checkins
from app.reports import service as reports
from app.reports.service import preview_report
from app.views.settings import SECTIONS
from tests.segment_messages import basic, drain, group
from tests.views.conftest import HTML, sign_in
from tests.views.data import AS_OF, PASSWORD, TZ, Book

# Each payload fits the shortest text field it is written to (100 characters).
IMG = "<img src=x onerror=alert(1)>"
BREAKOUT = '"><svg onload=alert(1)>'
META = '<meta http-equiv=refresh content="0;url=https://evil.example">'
SCRIPT = "<script>alert(1)</script>"
TEMPLATE = "{{7*7}}"
JS_URL = "javascript:alert(1)"
FORMULA = "=cmd|' /C calc'!A0"
CORPUS = (FORMULA, IMG, BREAKOUT, META, SCRIPT, TEMPLATE, JS_URL)
#: The text most fields get: the payloads that fit in 100 characters together.
EVIL = f"{BREAKOUT}{IMG}{SCRIPT}{TEMPLATE}"
#: For the longer fields: all of them, a spreadsheet formula first.
LONG_EVIL = " ".join(CORPUS)
#: A line break in a subject line would start a new mail header.
CRLF = "Subject line\r\nBcc: victim@evil.example"

#: Both go in paths (an external id, an industry override), so neither holds a slash.
ACCOUNT = f"evil{BREAKOUT}"
INDUSTRY = f"{BREAKOUT}{IMG}"
SEGMENT_ACCOUNT = "evil-segment"
USER_EMAILS = {"en": "evil-en@example.com", "ja": "evil-ja@example.com"}
CHAMPION = "champion@evil.example"


# -- the checks ------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the documents inside ``srcdoc`` attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def injected(page: str) -> list[str]:
    """What of the corpus came out as markup (empty when the page is clean)."""
    parser = _Elements()
    parser.feed(page)
    parser.close()
    found = []
    for tag, attrs in parser.tags:
        if tag == "img" and attrs.get("src") == "x":
            found.append(f"<img src=x> {attrs}")
        if tag == "meta" and "http-equiv" in attrs:
            found.append(f"<meta http-equiv> {attrs}")
        if tag == "svg" and "onload" in attrs:
            found.append(f"<svg onload> {attrs}")
        found += [f"<{tag} {name}>" for name in attrs if name.startswith("on")]
        found += [
            f"<{tag} {name}={value!r}>"
            for name, value in attrs.items()
            if name in ("href", "src", "action", "formaction", "hx-get", "hx-post")
            and value.strip().lower().startswith("javascript:")
        ]
        if "srcdoc" in attrs:
            found += [f"inside srcdoc: {f}" for f in injected(attrs["srcdoc"])]
    found += [f"<script>{s.strip()[:60]}" for s in parser.scripts if "alert(1)" in s]
    return found


def test_the_checks_see_each_payload_as_markup() -> None:
    assert injected(f"<p>{IMG}</p>") and injected(META) and injected(f'<a title="{BREAKOUT}">')
    assert injected(SCRIPT) and injected(f'<a href="{JS_URL}">x</a>')
    assert injected('<iframe srcdoc="&lt;img src=x onerror=alert(1)&gt;"></iframe>')
    assert injected("<p>&lt;img src=x onerror=alert(1)&gt; &#34;&gt;&lt;svg onload=x&gt;</p>") == []


# -- the templates -------------------------------------------------------------------------------

#: The gettext functions the templates call; ``ngettext`` takes two message ids.
GETTEXT = {"_": 1, "gettext": 1, "ngettext": 2}


def test_templates_translate_only_literal_message_ids() -> None:
    """A translation is markup from our catalogs; a value (a stored industry, a topic, a status)
    goes through ``l10n.label``, which returns plain text for autoescaping to escape."""
    calls = []
    for path in sorted(TEMPLATES_DIR.rglob("*.*")):
        name = path.relative_to(TEMPLATES_DIR).as_posix()
        for call in env.parse(path.read_text(encoding="utf-8")).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT:
                ids = call.args[: GETTEXT[call.node.name]]
                if not all(isinstance(arg, nodes.Const) and isinstance(arg.value, str) for arg in ids):
                    calls.append(f"{name}:{call.lineno} {call.node.name}(...)")
    assert calls == [], "use l10n.label(value) for values:\n" + "\n".join(calls)


def test_gettext_marks_only_catalog_strings_safe() -> None:
    en = L10n("en", TZ)

    assert en.template_gettext("by %(author)s", author=IMG) == "by &lt;img src=x onerror=alert(1)&gt;"
    assert en.template_gettext(META) == escape(META)
    assert en.template_ngettext(IMG, IMG, 2) == escape(IMG)
    assert L10n("ja", TZ).label("retail") == "小売"
    assert en.label(META) == META  # plain text: the template escapes it
    assert not isinstance(en.label("retail"), Markup)


# -- the data ----------------------------------------------------------------------------------


def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture
def hostile(
    app: FastAPI,
    client: TestClient,
    engine: Engine,
    book: Book,
    auth: Callable[[str], dict[str, str]],
) -> dict[str, Any]:
    """The book, plus an account and everything around it written with the corpus; returns the
    ids the page paths need."""
    admin = auth("admin")
    with Session(engine) as session:
        for language, email in USER_EMAILS.items():
            user = users.create_user(
                session, email=email, name=EVIL, role="admin", password=PASSWORD, now=AS_OF
            )
            user.locale = language
        session.commit()
    owner = USER_EMAILS["en"]
    _ok(
        client.post(
            "/api/v1/accounts",
            headers=admin,
            json={
                "id": ACCOUNT,
                "name": LONG_EVIL,
                "industry": INDUSTRY,
                "segment": "smb",
                "plan": EVIL,
                "owner": owner,
                "licensed_seats": 10,
                "arr": 1200000,
                "contract_start_on": "2026-01-05",
                "renewal_on": "2026-12-20",
                "traits": {"region": EVIL, EVIL: LONG_EVIL},
            },
        )
    )
    # The reported path: an industry arriving in a Segment group call.
    source = _ok(client.post("/api/v1/sources", headers=admin, json={"name": EVIL}))
    messages = [
        group("g1", "u-evil", SEGMENT_ACCOUNT, name=EVIL, industry=META, plan=IMG),
        {
            "type": "identify",
            "messageId": "i1",
            "userId": "u-evil",
            "traits": {"name": EVIL, "email": "u-evil@evil.example", "title": EVIL},
        },
        {
            "type": "track",
            "messageId": "t1",
            "userId": "u-evil",
            "event": EVIL,
            "context": {"groupId": ACCOUNT},
            "timestamp": "2026-11-20T01:00:00Z",
        },
        {
            "type": "page",
            "messageId": "p1",
            "userId": "u-evil",
            "name": EVIL,
            "context": {"groupId": ACCOUNT},
            "timestamp": "2026-11-20T01:00:00Z",
        },
    ]
    response = client.post(
        "/v1/batch",
        content=orjson.dumps({"batch": messages}),
        headers={"Content-Type": "application/json", **basic(source["write_key"])},
    )
    assert response.status_code == 200, response.text
    drain(app)

    contact = _ok(
        client.post(
            f"/api/v1/accounts/{quote(ACCOUNT, safe='')}/contacts",
            headers=admin,
            json={
                "name": EVIL,
                "title": EVIL,
                "email": CHAMPION,
                "is_champion": True,
                "traits": {"note": EVIL},
            },
        )
    )
    _ok(
        client.post(
            "/api/v1/features",
            headers=admin,
            json={"key": "evil", "name": EVIL, "patterns": [EVIL], "is_key": True, "description": LONG_EVIL},
        )
    )
    _ok(client.post("/api/v1/api-keys", headers=admin, json={"name": EVIL, "scope": "read"}))
    interactions: list[dict[str, Any]] = [
        {"type": "meeting", "title": EVIL, "notes": LONG_EVIL, "onboarding_topic": META},
        {
            "type": "meeting",
            "title": IMG,
            "body": f"[x]({JS_URL}) <{JS_URL}> {SCRIPT}",
            "onboarding_topic": IMG,
        },
        {"type": "email_sent", "title": EVIL, "subject": EVIL},
        {"type": "support_ticket", "title": EVIL, "status": "opened"},
        {"type": "webinar", "name": EVIL, "attended": True},
        {"type": "training", "name": EVIL},
        {"type": "certification", "name": EVIL, "level": 2},
        {"type": "note", "title": EVIL, "body": LONG_EVIL},
        {"type": "nps_response", "score": 3, "comment": LONG_EVIL},
        {"type": "community_post", "title": EVIL},
    ]
    for n, extra in enumerate(interactions):
        _ok(
            client.post(
                "/api/v1/interactions",
                headers=admin,
                json={
                    "account_id": ACCOUNT,
                    "author": EVIL,
                    "occurred_at": (AS_OF - dt.timedelta(days=1 + n)).isoformat(),
                    **extra,
                },
            )
        )
    _ok(
        client.post(
            "/api/v1/interactions",
            headers=admin,
            json={
                "account_id": ACCOUNT,
                "type": "meeting_scheduled",
                "author": owner,
                "title": EVIL,
                "occurred_at": AS_OF.isoformat(),
                "scheduled_for": (AS_OF + dt.timedelta(days=3)).isoformat(),
            },
        )
    )
    account_path = f"/api/v1/accounts/{quote(ACCOUNT, safe='')}"
    plan = _ok(
        client.post(
            f"{account_path}/success-plans",
            headers=admin,
            json={"title": EVIL, "objective": LONG_EVIL, "status": "active", "start_on": "2026-10-01"},
        )
    )
    goal = _ok(
        client.post(
            f"{account_path}/success-plans/{plan['id']}/goals",
            headers=admin,
            json={
                "title": EVIL,
                "description": LONG_EVIL,
                "kind": "quantitative",
                "metric": EVIL,
                "unit": IMG,
                "target": 10,
                "baseline": 0,
                "current_value": 4,
            },
        )
    )
    other = _ok(
        client.post(
            f"{account_path}/success-plans/{plan['id']}/goals",
            headers=admin,
            json={"title": META, "kind": "qualitative", "success_criterion": LONG_EVIL},
        )
    )
    _ok(
        client.post(
            f"{account_path}/success-plans/{plan['id']}/goals/{other['id']}/steps",
            headers=admin,
            json={"title": EVIL, "owner": EVIL},
        )
    )
    _ok(
        client.post(
            f"{account_path}/history",
            headers=admin,
            json={
                "kind": "arr_change",
                "occurred_on": "2026-10-02",
                "arr_before": 1000000,
                "arr_after": 1200000,
                "note": EVIL,
            },
        )
    )
    _ok(
        client.post(
            "/api/v1/opportunities",
            headers=admin,
            json={
                "account_id": ACCOUNT,
                "title": f"@SUM(1+1)*cmd|' /C calc'!A0{IMG}",
                "kind": "upsell_seats",
                "amount": 1000,
                "notes": LONG_EVIL,
                "expected_close_on": "2026-12-31",
            },
        )
    )
    _ok(
        client.post(
            "/api/v1/tasks",
            headers=admin,
            json={"account_id": ACCOUNT, "title": EVIL, "description": LONG_EVIL, "due_on": "2026-11-25"},
        )
    )
    _ok(
        client.put(
            f"/api/v1/industries/{quote(INDUSTRY, safe='')}/override",
            headers=admin,
            json={"tier": 1, "reason": EVIL},
        )
    )
    for language in ("ja", "en"):
        _ok(
            client.put(
                f"/api/v1/email-templates/checkin/{language}",
                headers=admin,
                json={
                    "subject": f"{EVIL} ${{account_name}} ${{contact_name}}",
                    "body": f"{LONG_EVIL}\n${{account_name}} ${{contact_name}}",
                },
            )
        )
        _ok(
            client.post(
                f"{account_path}/adoption-reports",
                headers=admin,
                json={"language": language, "message": LONG_EVIL, "contact_ids": [contact["id"]]},
            )
        )

    with Session(engine) as session:
        today = AS_OF.astimezone(TZ).date()
        health_snapshots.run_scoring(session, as_of=today, tz=TZ, now=AS_OF)
        priorities.recompute(
            session, week=priorities.week_of(today), tz=TZ, now=AS_OF, author=USER_EMAILS["en"]
        )
        settings = app.state.settings
        # The accounts are past the check-in's usual window: open it to them.
        wide = settings.model_copy(update={"checkin_from_day": 1, "checkin_until_day": 3650})
        checkins.send_checkins(session, settings=wide, now=AS_OF)
        digest.send_digests(session, settings=settings, now=AS_OF)
        session.commit()
        report = session.exec(select(AdoptionReport)).first()
        checkin = session.exec(select(Checkin)).first()
        assert report is not None and report.id is not None
        assert checkin is not None and checkin.id is not None
        return {
            "account_id": ACCOUNT,
            "plan_id": plan["id"],
            "goal_id": goal["id"],
            "report_token": reports.token_for(settings, report.id),
            "checkin_token": checkins.answer_link(settings, checkin.id, "problem").rsplit("/", 1)[-1],
        }


# -- the pages -----------------------------------------------------------------------------------

CSV_LINK = re.compile(r'href="([^"]*\.csv(?:\?[^"]*)?)"')
#: Paths that are not pages: the API, Segment's endpoints, probes, the OpenAPI document.
NOT_PAGES = re.compile(r"^/(api|v1)/|^/(healthz|readyz|openapi\.json)$")


def view_routes(app: FastAPI) -> list[str]:
    """The path of every GET route outside the API (through included routers)."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x nests routers
    except ImportError:  # older FastAPI flattens included routers into app.routes
        paths = [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    else:
        paths = [
            (ctx.path or "", ctx.original_route)
            for ctx in iter_route_contexts(app.routes)
            if isinstance(ctx.original_route, APIRoute)
        ]
    return sorted(
        {path for path, route in paths if "GET" in (route.methods or ()) and not NOT_PAGES.search(path)}
    )


def _filled(path: str, values: dict[str, list[str]]) -> list[str]:
    """``path`` with each parameter replaced by every value seeded for it."""
    params = re.findall(r"\{(\w+)\}", path)
    missing = [p for p in params if p not in values]
    assert not missing, f"{path}: no seeded value for {missing}; add one to page_paths"
    out = [path]
    for name in params:
        out = [p.replace(f"{{{name}}}", quote(v, safe="")) for p in out for v in values[name]]
    return out


def page_paths(app: FastAPI, engine: Engine, seeded: dict[str, Any]) -> list[str]:
    with Session(engine) as session:
        outbox = [str(row.id) for row in session.exec(select(Outbox)).all()]
        models = [str(row.id) for row in session.exec(select(HealthModel)).all()]
    assert outbox and models
    values = {
        "account_id": [ACCOUNT, SEGMENT_ACCOUNT],
        "section": list(SECTIONS),
        "outbox_id": outbox,
        "model_id": models,
        "token": [seeded["report_token"], seeded["checkin_token"]],
    }
    paths = [p for route in view_routes(app) for p in _filled(route, values)]
    # The same pages with their filters set to the hostile values.
    for page in ("/", "/kpis", "/pipeline", "/kpis/interventions", "/week"):
        paths.append(f"{page}?industry={quote(INDUSTRY)}&segment={quote(EVIL)}&q={quote(EVIL)}")
    paths.append(f"/accounts/{quote(ACCOUNT, safe='')}?kind={quote(EVIL)}")
    return paths


@pytest.fixture
def readers(app: FastAPI, hostile: dict[str, Any]) -> Iterator[dict[str, TestClient]]:
    """A signed-in admin browser per language (their own names are hostile too)."""
    yield {
        language: sign_in(TestClient(app, raise_server_exceptions=False), email)
        for language, email in USER_EMAILS.items()
    }


@pytest.mark.slow
def test_no_page_carries_the_corpus_as_markup(
    app: FastAPI,
    engine: Engine,
    hostile: dict[str, Any],
    readers: dict[str, TestClient],
) -> None:
    paths = page_paths(app, engine, hostile)
    checked, problems, downloads = 0, [], set()
    for language, reader in readers.items():
        for path in paths:
            response = reader.get(path, headers=HTML, follow_redirects=True)
            assert response.status_code < 500, f"{language} {path}: {response.status_code}"
            kind = response.headers.get("content-type", "")
            if kind.startswith("text/html"):
                checked += 1
                problems += [f"{language} {path}: {f}" for f in injected(response.text)]
                downloads |= {html.unescape(link) for link in CSV_LINK.findall(response.text)}
        for path in sorted(downloads):
            response = reader.get(path, headers=HTML)
            assert response.headers["content-type"].startswith("text/csv"), path
            problems += [f"{language} {path}: {f}" for f in formulas(response.text)]
    assert checked > 40
    assert len(downloads) >= 6, downloads
    assert problems == [], "\n".join(problems)


def formulas(text: str) -> list[str]:
    """Cells a spreadsheet would run as a formula (OWASP: CSV injection)."""
    return [
        cell
        for row in csv.reader(io.StringIO(text.removeprefix("\ufeff")))
        for cell in row
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(cell)
    ]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# -- the emails ----------------------------------------------------------------------------------


def test_no_email_carries_the_corpus_as_markup_or_a_header_break(
    app: FastAPI,
    engine: Engine,
    hostile: dict[str, Any],
) -> None:
    settings = app.state.settings
    with Session(engine) as session:
        rendered = [
            (row.kind, row.subject, row.html_body or "") for row in session.exec(select(Outbox)).all()
        ]
        for language in ("ja", "en"):
            report = preview_report(
                session,
                settings=settings,
                account_id=ACCOUNT,
                start=None,
                end=None,
                language=language,
                message=LONG_EVIL,
                now=AS_OF,
            )
            rendered.append(("adoption_report preview", report.subject, report.html))
            subject, _, html = checkins.sample(session, settings=settings, language=language)
            rendered.append(("checkin sample", subject, html))
        week = priorities.week_of(AS_OF.astimezone(TZ).date())
        view = priorities.week_view(session, week=week, tz=TZ, now=AS_OF)
        for language in ("ja", "en"):
            subject, _, html = digest.render(
                view.items, view.suppressed, week=week, name=CRLF, language=language, settings=settings
            )
            rendered.append(("digest", subject, html))
        report_row = session.exec(select(AdoptionReport)).first()
        assert report_row is not None
        rendered.append(("report page", "", reports.render_web(session, report_row, tz=TZ)))
    kinds = {kind for kind, _, _ in rendered}
    assert {"report", "checkin", "digest"} <= kinds, kinds
    problems = [f"{kind}: {f}" for kind, _, html in rendered for f in injected(html)]
    problems += [f"{kind}: subject {s!r}" for kind, s, _ in rendered if "\r" in s or "\n" in s]
    assert problems == [], "\n".join(problems)


def test_a_line_break_in_a_name_never_reaches_a_subject(
    app: FastAPI,
    engine: Engine,
    client: TestClient,
    auth: Callable[[str], dict[str, str]],
    book: Book,
) -> None:
    _ok(client.patch("/api/v1/accounts/acme", headers=auth("admin"), json={"name": CRLF}))
    settings = app.state.settings
    with Session(engine) as session:
        subjects = [
            preview_report(
                session,
                settings=settings,
                account_id="acme",
                start=None,
                end=None,
                language=language,
                message=None,
                now=AS_OF,
            ).subject
            for language in ("ja", "en")
        ]
        checkins.save_template(
            session,
            key="checkin",
            language="en",
            subject="Hi ${account_name}",
            body="${contact_name}",
            actor="admin@example.com",
            now=AS_OF,
        )
        wide = settings.model_copy(update={"checkin_from_day": 1, "checkin_until_day": 3650})
        assert checkins.send_checkins(session, settings=wide, now=AS_OF, language="en")
        subjects += [row.subject for row in session.exec(select(Outbox)).all()]

    assert all("\r" not in s and "\n" not in s for s in subjects), subjects


def test_a_subject_queued_with_a_line_break_is_sent_on_one_line() -> None:
    mail = mailer.Mail("to@example.com", CRLF, "text", None, "<id@example.com>")

    message = mailer.build_message(mail, mail_from="Bansō <bansou@example.com>", date=AS_OF)

    assert message["Subject"] == "Subject line Bcc: victim@evil.example"
    assert message["Bcc"] is None
