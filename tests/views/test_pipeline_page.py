"""The expansion pipeline page and the account page's opportunities panel: rendering, filters
for htmx, stage changes with and without it, stale edits, suggestions, CSV, roles, languages."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.expansion import service as svc
from app.expansion.schemas import OpportunityCreate
from app.models import Opportunity
from app.usage import aggregates as usage_svc
from app.usage.schemas import DailyAggregateIn
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import AS_OF, CSM, OTHER_CSM, Book

TODAY = dt.date(2026, 11, 23)


def _opportunity(engine: Engine, opportunity_id: int) -> Opportunity:
    with Session(engine) as session:
        row = session.get(Opportunity, opportunity_id)
        assert row is not None
        return row


@pytest.fixture
def opps(engine: Engine, book: Book) -> dict[str, int]:
    """Three opportunities (acme proposal, acme won, globex identified) and a seats-nearly-full
    signal on hooli (280 of its 300 seats active)."""
    with Session(engine, expire_on_commit=False) as session:
        ids = {}
        for name, account, stage, amount, extra in (
            ("proposal", "acme", "proposal", 1_000_000, {}),
            ("won", "acme", "won", 300_000, {}),
            (
                "identified",
                "globex",
                "identified",
                200_000,
                {"title": "Analytics add-on", "kind": "cross_sell"},
            ),
        ):
            body = {
                "account_id": account,
                "kind": "upsell_seats",
                "stage": stage,
                "amount": Decimal(amount),
                **extra,
            }
            view = svc.create_opportunity(
                session, opportunity_in=OpportunityCreate(**body), actor=CSM, now=AS_OF, today=TODAY
            )
            assert view.opportunity.id is not None
            ids[name] = view.opportunity.id
        usage_svc.replace_daily_aggregates(
            session,
            rows=[
                DailyAggregateIn(
                    account_id="hooli",
                    day=TODAY - dt.timedelta(days=2),
                    event="report.viewed",
                    count=600,
                    distinct_users=280,
                    active_users=280,
                )
            ],
            now=AS_OF,
        )
        session.commit()
    return ids


def test_the_page_shows_the_pipeline_by_stage_with_weighted_amounts(
    admin: TestClient, opps: dict[str, int]
) -> None:
    response = admin.get("/pipeline", headers=HTML)

    assert response.status_code == 200
    assert response.template.name == "pipeline/index.html"  # type: ignore[attr-defined]
    context = response.context  # type: ignore[attr-defined]
    stages = {b.key: (b.count, b.amount, b.weighted) for b in context["summary"].by_stage}
    assert stages["proposal"] == (1, Decimal(1_000_000), Decimal("500000.00"))
    assert stages["won"] == (1, Decimal(300_000), Decimal("300000.00"))
    (total,) = context["summary"].open_total
    assert (total.count, total.amount, total.weighted) == (2, Decimal(1_200_000), Decimal("520000.00"))
    assert context["count"] == 3
    text = response.text
    assert 'href="/pipeline" aria-current="page"' in text  # the analytics tabs
    assert "Analytics add-on" in text and f'id="opp-{opps["proposal"]}"' in text
    assert "¥520,000" in text
    # Hooli's seats are nearly full: suggested, with the facts.
    (suggestion,) = context["suggestions"]
    assert suggestion["s"].account.external_id == "hooli"
    assert suggestion["facts"].startswith("280 of 300 seats used in the last 30 days (93%)")
    assert 'action="/pipeline/suggestions"' in text


def test_a_csm_starts_on_their_own_accounts_and_filters_update_in_place(
    csm: TestClient, opps: dict[str, int]
) -> None:
    page = csm.get("/pipeline", headers=HTML)
    assert page.context["params"]["owner"] == "me"  # type: ignore[attr-defined]
    assert page.context["count"] == 3  # acme and globex are Sato's  # type: ignore[attr-defined]

    response = csm.get(
        "/pipeline", headers=HX, params={"owner": "all", "segment": "mid_market", "tier": "none"}
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="results"')
    assert response.headers["HX-Push-Url"] == "/pipeline?owner=all&segment=mid_market&tier=none"
    assert response.context["count"] == 1  # type: ignore[attr-defined]
    assert "HX-Request" in response.headers["Vary"]
    summary = csm.get("/pipeline", headers=HX, params={"owner": "all", "part": "summary"})
    assert summary.text.lstrip().startswith('<div id="pipeline-summary"')
    # Unknown values fall back to "any" instead of failing.
    assert csm.get("/pipeline", headers=HTML, params={"tier": "9", "owner": "x@y.z"}).status_code == 200


def test_stage_change_without_javascript_redirects(
    csm: TestClient, engine: Engine, opps: dict[str, int]
) -> None:
    oid = opps["proposal"]
    response = csm.post(
        f"/pipeline/opportunities/{oid}/stage",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": csrf(csm, "/pipeline"),
            "version": "1",
            "stage": "committed",
            "next": "https://evil.example/",
        },
    )
    # A committed opportunity needs an expected close date: refused with the page and the message.
    assert response.status_code == 422
    assert response.context["row_errors"][oid]["expected_close_on"]  # type: ignore[attr-defined]
    assert _opportunity(engine, oid).version == 1

    response = csm.post(
        f"/pipeline/opportunities/{oid}/stage",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": csrf(csm, "/pipeline"),
            "version": "1",
            "stage": "lost",
            "lost_reason": "competitor",
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/pipeline"
    row = _opportunity(engine, oid)
    assert (row.stage, row.lost_reason, row.closed_on, row.version, row.updated_by) == (
        "lost",
        "competitor",
        TODAY,
        2,
        CSM,
    )


def test_stage_change_with_htmx_swaps_the_row(csm: TestClient, engine: Engine, opps: dict[str, int]) -> None:
    oid = opps["identified"]
    token = csrf(csm, "/pipeline")

    missing = csm.post(
        f"/pipeline/opportunities/{oid}/stage",
        headers={**HX, "X-CSRF-Token": token},
        data={"version": "1", "stage": "lost"},
    )
    assert missing.status_code == 422
    assert missing.text.lstrip().startswith(f'<tr id="opp-{oid}"')
    assert "Say why it was lost." in missing.text

    response = csm.post(
        f"/pipeline/opportunities/{oid}/stage",
        headers={**HX, "X-CSRF-Token": token},
        data={"version": "1", "stage": "qualified"},
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="opp-{oid}"')
    assert "pipeline-changed" in response.headers["HX-Trigger"]
    assert 'name="version" value="2"' in response.text
    assert f'hx-target="#opp-{oid}"' in response.text and 'name="next"' in response.text
    assert 'name="panel"' not in response.text
    assert _opportunity(engine, oid).stage == "qualified"


def test_a_stale_stage_change_is_refused_and_names_who_changed_it(
    csm: TestClient, as_user: Callable[[str], TestClient], engine: Engine, opps: dict[str, int]
) -> None:
    oid = opps["identified"]
    other = as_user(OTHER_CSM)
    assert (
        other.post(
            f"/pipeline/opportunities/{oid}/stage",
            headers={**HX, "X-CSRF-Token": csrf(other, "/pipeline")},
            data={"version": "1", "stage": "proposal"},
        ).status_code
        == 200
    )

    response = csm.post(
        f"/pipeline/opportunities/{oid}/stage",
        headers={**HX, "X-CSRF-Token": csrf(csm, "/pipeline")},
        data={"version": "1", "stage": "won"},
    )

    assert response.status_code == 409
    notice = response.context["row_notices"][oid]  # type: ignore[attr-defined]
    assert notice.startswith("Changed by Suzuki Misaki meanwhile")
    assert _opportunity(engine, oid).stage == "proposal"


def test_a_viewer_reads_but_cannot_change(viewer: TestClient, opps: dict[str, int]) -> None:
    page = viewer.get("/pipeline", headers=HTML)
    assert page.status_code == 200
    assert "/pipeline/opportunities/" not in page.text and "/pipeline/suggestions" not in page.text
    token = csrf(viewer, "/pipeline")
    denied = viewer.post(
        f"/pipeline/opportunities/{opps['proposal']}/stage",
        headers=HTML,
        data={"csrf_token": token, "version": "1", "stage": "won"},
    )
    assert denied.status_code == 403
    assert (
        viewer.post(
            "/accounts/acme/opportunities", headers=HTML, data={"csrf_token": token, "kind": "cross_sell"}
        ).status_code
        == 403
    )


def test_a_form_without_csrf_is_refused(csm: TestClient, opps: dict[str, int]) -> None:
    response = csm.post(
        f"/pipeline/opportunities/{opps['proposal']}/stage",
        headers=HTML,
        data={"version": "1", "stage": "won"},
    )
    assert response.status_code == 403


def test_create_from_a_suggestion(admin: TestClient, engine: Engine, opps: dict[str, int]) -> None:
    token = csrf(admin, "/pipeline")
    response = admin.post(
        "/pipeline/suggestions",
        headers={**HX, "X-CSRF-Token": token},
        data={"account_id": "hooli", "signal": "seats_nearly_full", "owner": "all"},
    )

    assert response.status_code == 200
    assert response.context["suggestions"] == []  # type: ignore[attr-defined]
    with Session(engine) as session:
        page = svc.list_opportunities(session, filters=svc.Filters(), page=None, today=TODAY)
    created = page.items[0].opportunity
    assert page.items[0].account.external_id == "hooli"
    # 300 seats → 60 more at ¥10,800,000 / 300 = ¥36,000 each.
    assert (created.source, created.kind, created.amount) == (
        "seats_nearly_full",
        "upsell_seats",
        Decimal("2160000.00"),
    )
    assert created.source_data["active_users_30d"] == 280
    # A second click (the same day) creates nothing new; a cleared signal is said so.
    again = admin.post(
        "/pipeline/suggestions",
        headers=HTML,
        follow_redirects=False,
        data={"csrf_token": token, "account_id": "hooli", "signal": "seats_nearly_full"},
    )
    assert again.status_code == 303
    assert again.headers["location"] == f"/pipeline#opp-{created.id}"
    gone = admin.post(
        "/pipeline/suggestions",
        headers={**HX, "X-CSRF-Token": token},
        data={"account_id": "acme", "signal": "usage_growth"},
    )
    assert gone.status_code == 422
    assert "no longer applies" in gone.text


def test_csv_export(admin: TestClient, opps: dict[str, int]) -> None:
    response = admin.get("/pipeline.csv", headers=HTML, params={"segment": "enterprise"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="pipeline-2026-11-23.csv"' in response.headers["content-disposition"]
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [(r["account_id"], r["stage"], r["amount"], r["weighted_amount"]) for r in rows] == [
        ("acme", "won", "300000.00", "300000.00"),
        ("acme", "proposal", "1000000.00", "500000.00"),
    ]
    assert rows[0]["closed_on"] == "2026-11-23" and rows[1]["closed_on"] == ""


def test_the_account_panel_lists_and_adds(csm: TestClient, engine: Engine, opps: dict[str, int]) -> None:
    page = csm.get("/accounts/acme", headers=HTML)
    assert page.status_code == 200
    context = page.context  # type: ignore[attr-defined]
    assert [v.opportunity.id for v in context["opportunities"]] == [opps["proposal"], opps["won"]]
    assert context["opp_open_amount"] == Decimal(1_000_000)
    assert 'id="opportunities"' in page.text and 'action="/accounts/acme/opportunities"' in page.text
    # The panel's stage form posts back into the panel (not the pipeline's row).
    assert f'action="/pipeline/opportunities/{opps["proposal"]}/stage"' in page.text
    assert 'name="panel" value="1"' in page.text and 'hx-target="#opportunities"' in page.text
    assert f'id="opp-stage-{opps["proposal"]}"' in page.text

    token = csrf(csm, "/accounts/acme")
    bad = csm.post(
        "/accounts/acme/opportunities",
        headers={**HX, "X-CSRF-Token": token},
        data={
            "kind": "teleport",
            "amount": "lots",
            "expected_close_on": "soon",
            "stage": "identified",
            "key": "k1",
        },
    )
    assert bad.status_code == 422
    assert bad.text.lstrip().startswith('<section class="panel" id="opportunities"')
    assert set(bad.context["opp_form_errors"]) == {"kind", "amount", "expected_close_on"}  # type: ignore[attr-defined]
    assert 'value="lots"' in bad.text  # the input is kept

    plain = csm.post(
        "/accounts/acme/opportunities",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": token,
            "kind": "cross_sell",
            "amount": "¥1,200,000",
            "stage": "proposal",
            "expected_close_on": "2027-02-01",
            "title": "BI connector",
            "key": "k2",
        },
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == "/accounts/acme#opportunities"
    # The same form sent twice (a double click) is stored once.
    csm.post(
        "/accounts/acme/opportunities",
        headers=HTML,
        follow_redirects=False,
        data={
            "csrf_token": token,
            "kind": "cross_sell",
            "amount": "¥1,200,000",
            "stage": "proposal",
            "expected_close_on": "2027-02-01",
            "title": "BI connector",
            "key": "k2",
        },
    )
    with Session(engine) as session:
        _, items = svc.account_opportunities(session, account_id="acme", today=TODAY)
    added = [v.opportunity for v in items if v.opportunity.title == "BI connector"]
    assert len(added) == 1
    assert (added[0].amount, added[0].owner_id is not None, added[0].created_by) == (
        Decimal("1200000.00"),
        True,
        CSM,
    )

    moved = csm.post(
        f"/pipeline/opportunities/{added[0].id}/stage",
        headers={**HX, "X-CSRF-Token": token},
        data={"version": "1", "stage": "won", "panel": "1"},
    )
    assert moved.status_code == 200
    assert moved.text.lstrip().startswith('<section class="panel" id="opportunities"')


def test_pages_in_japanese(as_user: Callable[[str], TestClient], opps: dict[str, int]) -> None:
    suzuki = as_user(OTHER_CSM)  # her language is Japanese
    page = suzuki.get("/pipeline", headers={"Accept": "text/html"}, params={"owner": "all"})
    assert page.status_code == 200
    assert "拡大パイプライン" in page.text or "アップセル" in page.text
    assert "提案" in page.text  # the proposal stage
    account = suzuki.get("/accounts/acme", headers={"Accept": "text/html"})
    assert "拡大商談" in account.text
