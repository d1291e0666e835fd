"""An account id is a segment of the account's URL: ids with ``/``, and ``.`` and ``..`` (which
a browser or proxy resolves as path steps), are refused at every door that makes accounts (the API,
the CSV import, Segment's group call); every other id is reachable once url-encoded."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.helpers import Headers, assert_problem
from tests.segment_messages import basic, drain, group

REFUSED = ["org/123", ".", ".."]


@pytest.fixture
def admin(auth: object) -> Headers:
    assert callable(auth)
    headers: Headers = auth("admin")
    return headers


@pytest.mark.parametrize("refused", REFUSED)
def test_the_api_refuses_an_account_id_that_is_not_one_url_segment(
    client: TestClient, admin: Headers, refused: str
) -> None:
    response = client.post("/api/v1/accounts", json={"id": refused, "name": "Org"}, headers=admin)

    problem = assert_problem(response, 422)
    assert [(e["field"], "URL" in e["message"]) for e in problem["errors"]] == [("id", True)]


@pytest.mark.parametrize("refused", REFUSED)
def test_the_csv_import_refuses_it_by_row_and_column(
    client: TestClient, admin: Headers, refused: str
) -> None:
    response = client.post(
        "/api/v1/imports/accounts",
        content=f"id,name\nok,Ok\n{refused},Org\n",
        headers={**admin, "Content-Type": "text/csv"},
    )

    problem = assert_problem(response, 422)
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(3, "id")]


@pytest.mark.parametrize("refused", REFUSED)
def test_a_segment_group_call_with_it_is_rejected_alone_with_the_reason(
    client: TestClient, admin: Headers, refused: str
) -> None:
    source = client.post("/api/v1/sources", headers=admin, json={"name": "web"}).json()
    batch = {"batch": [group("g1", "u1", refused), group("g2", "u1", "org-123")]}
    response = client.post(
        "/v1/batch",
        content=orjson.dumps(batch),
        headers={"Content-Type": "application/json", **basic(source["write_key"])},
    )

    body = response.json()
    assert (response.status_code, body["accepted"], body["rejected"]) == (200, 1, 1)
    assert body["errors"][0]["messageId"] == "g1" and "URL" in body["errors"][0]["reason"]
    drain(client.app)  # type: ignore[arg-type]
    assert client.get("/api/v1/accounts/org-123", headers=admin).status_code == 200


@pytest.mark.parametrize("account_id", ["org:123", "a b", "50%", "q?x#y", "日本", "a.b"])
def test_every_other_id_is_reachable_url_encoded(client: TestClient, admin: Headers, account_id: str) -> None:
    created = client.post("/api/v1/accounts", json={"id": account_id, "name": "X"}, headers=admin)
    assert created.status_code == 201, created.text

    response = client.get(f"/api/v1/accounts/{quote(account_id, safe='')}", headers=admin)

    assert response.status_code == 200 and response.json()["id"] == account_id
