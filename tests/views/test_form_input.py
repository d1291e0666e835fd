"""Forms posted without JavaScript re-render the page with 422 and the field's message; input
the database cannot store is refused at the form like everywhere else."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.builders import make_account
from tests.views.conftest import HTML, HX, csrf
from tests.views.data import CSM, Book


def test_a_plan_without_a_title_posted_without_javascript_is_the_page_with_the_message(
    csm: TestClient, book: Book
) -> None:
    response = csm.post(
        "/accounts/globex/plans",
        headers=HTML,  # globex has no plan yet
        data={"title": " ", "csrf_token": csrf(csm, "/accounts/globex")},
    )

    assert response.status_code == 422
    assert "<html" in response.text
    assert "Give the plan a title." in response.text


def test_a_goal_without_a_title_posted_without_javascript_keeps_what_was_typed(
    csm: TestClient, book: Book
) -> None:
    response = csm.post(
        f"/accounts/acme/plans/{book.plan_id}/goals",
        headers=HTML,
        data={
            "title": "",
            "kind": "qualitative",
            "criterion": "Kept as typed",
            "csrf_token": csrf(csm, "/accounts/acme"),
        },
    )

    assert response.status_code == 422
    assert "<html" in response.text
    assert "Give the goal a title." in response.text
    assert 'value="Kept as typed"' in response.text


def test_the_same_form_with_htmx_is_the_plan_panel(csm: TestClient, book: Book) -> None:
    response = csm.post(
        f"/accounts/acme/plans/{book.plan_id}/goals",
        headers=HX,
        data={
            "title": "",
            "kind": "qualitative",
            "criterion": "c",
            "csrf_token": csrf(csm, "/accounts/acme"),
        },
    )

    assert response.status_code == 422
    assert "<html" not in response.text
    assert "Give the goal a title." in response.text


def test_a_nul_character_or_an_id_out_of_range_in_a_form_is_refused(csm: TestClient, book: Book) -> None:
    token = csrf(csm, "/accounts/acme")
    nul = csm.post(
        f"/accounts/acme/plans/{book.plan_id}/goals",
        headers=HTML,
        data={"title": "a\x00b", "kind": "qualitative", "criterion": "c", "csrf_token": token},
    )
    huge = csm.post(
        f"/accounts/acme/plans/{2**31}/goals",
        headers=HTML,
        data={"title": "t", "kind": "qualitative", "criterion": "c", "csrf_token": token},
    )

    assert (nul.status_code, huge.status_code) == (422, 422)


def test_an_account_id_with_url_characters_is_linked_encoded_and_its_page_opens(
    csm: TestClient, book: Book, engine: Engine
) -> None:
    with Session(engine) as session:
        make_account(session, id="q?x #1", name="Quirky", owner=CSM)
        session.commit()

    portfolio = csm.get("/?q=Quirky", headers=HTML)
    page = csm.get("/accounts/q%3Fx%20%231", headers=HTML)

    assert 'href="/accounts/q%3Fx%20%231"' in portfolio.text
    assert page.status_code == 200 and "Quirky" in page.text
    assert 'action="/accounts/q%3Fx%20%231/plans"' in page.text
