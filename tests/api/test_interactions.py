"""Interactions over the JSON API: every type's rules, idempotent retries, batches, listing."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from app.models import INTERACTION_TYPES, Interaction, InteractionContact
from tests.builders import AS_OF, make_account, make_contact, make_user
from tests.helpers import Headers, assert_problem, error_fields, walk

URL = "/api/v1/interactions"
WHEN = "2026-11-20T10:00:00+09:00"


@pytest.fixture
def acme(session: Session) -> dict[str, int]:
    """Account acme with two contacts, and a second account with one."""
    make_account(session, id="acme", name="Acme")
    make_account(session, id="other", name="Other")
    hana = make_contact(session, account_id="acme", external_id="u-hana", email="hana@acme.jp",
                        name="Hana")
    ken = make_contact(session, account_id="acme", external_id="u-ken", email="ken@acme.jp",
                       name="Ken")
    stranger = make_contact(session, account_id="other", external_id="u-x", email="x@other.jp")
    session.commit()
    assert hana.id and ken.id and stranger.id
    return {"hana": hana.id, "ken": ken.id, "stranger": stranger.id}


@pytest.fixture
def csm(session: Session) -> str:
    make_user(session, email="csm@example.com")
    session.commit()
    return "csm@example.com"


def item(type: str = "note", **fields: Any) -> dict[str, Any]:
    return {"type": type, "account_id": "acme", "occurred_at": WHEN} | fields


def count(engine: Engine, model: Any = Interaction) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


# -- create ------------------------------------------------------------------------------------


def test_create_meeting_returns_201_with_location_and_the_interaction(
    client: TestClient, writer: Headers, reader: Headers, acme: dict[str, int], csm: str
) -> None:
    response = client.post(URL, headers=writer, json=item(
        "meeting", title="Kick-off", notes="Agreed on the onboarding plan",
        attendees=["u-hana", "KEN@acme.jp"], contacts=[acme["hana"]],
        onboarding_topic="admin setup", duration_minutes=45, author="CSM@example.com",
    ))

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{URL}/{body['id']}"
    assert body == {
        "id": body["id"], "account_id": "acme", "type": "meeting",
        "occurred_at": "2026-11-20T01:00:00Z", "external_id": None,
        "author": "csm@example.com", "title": "Kick-off",
        "body": "Agreed on the onboarding plan",
        "data": {"onboarding_topic": "admin setup", "duration_minutes": 45},
        "contacts": [
            {"id": acme["hana"], "name": "Hana", "email": "hana@acme.jp"},
            {"id": acme["ken"], "name": "Ken", "email": "ken@acme.jp"},
        ],
        "created_at": "2026-11-23T09:00:00Z",
    }
    assert client.get(response.headers["location"], headers=reader).json() == body


def test_author_user_is_linked_and_free_text_author_is_kept(
    client: TestClient, writer: Headers, session: Session, acme: dict[str, int], csm: str
) -> None:
    by_user = client.post(URL, headers=writer, json=item(author="csm@example.com")).json()
    by_system = client.post(URL, headers=writer, json=item(author="zendesk")).json()
    by_default = client.post(URL, headers=writer, json=item()).json()
    by_stranger = client.post(URL, headers=writer, json=item(author="who@else.com")).json()

    rows = {r.id: r for r in session.exec(select(Interaction)).all()}
    assert rows[by_user["id"]].author_user_id is not None
    assert (by_system["author"], rows[by_system["id"]].author_user_id) == ("zendesk", None)
    assert by_default["author"] == "system"
    assert (by_stranger["author"], rows[by_stranger["id"]].author_user_id) == ("who@else.com", None)


@pytest.mark.parametrize(
    ("type", "fields", "data"),
    [
        ("meeting", {}, {}),
        ("call", {"duration_minutes": 15}, {"duration_minutes": 15}),
        ("email_sent", {"subject": "Your renewal"}, {"subject": "Your renewal"}),
        ("email_reply", {"subject": "Re: renewal"}, {"subject": "Re: renewal"}),
        ("support_ticket", {}, {"status": "opened", "severity": "normal"}),
        (
            "support_ticket", {"status": "closed", "severity": "urgent", "ticket_id": "Z-1"},
            {"status": "closed", "severity": "urgent", "ticket_id": "Z-1"},
        ),
        ("webinar", {"name": "Dashboards 101"}, {"name": "Dashboards 101", "attended": True}),
        ("event", {"name": "User Day", "attended": False}, {"name": "User Day", "attended": False}),
        ("community", {}, {"attended": True}),
        ("community_post", {"url": "https://community.example/t/1"},
         {"url": "https://community.example/t/1"}),
        ("nps_response", {"score": 0}, {"score": 0}),
        ("nps_response", {"score": 10, "comment": "最高"}, {"score": 10, "comment": "最高"}),
        ("email_click", {"url": "https://x.example/a", "campaign": "q4"},
         {"url": "https://x.example/a", "campaign": "q4"}),
        ("meeting_scheduled", {"scheduled_for": "2026-12-01T10:00:00+09:00"},
         {"scheduled_for": "2026-12-01T01:00:00Z"}),
        ("training", {"name": "Admin course"}, {"name": "Admin course"}),
        ("certification", {"name": "Expert", "level": 5}, {"name": "Expert", "level": 5}),
        ("certification", {"level": 1}, {"level": 1}),
        ("note", {"body": "Champion is leaving in March"}, {}),
    ],
)
def test_each_type_is_stored_with_its_own_fields(
    client: TestClient, writer: Headers, acme: dict[str, int], type: str,
    fields: dict[str, Any], data: dict[str, Any],
) -> None:
    response = client.post(URL, headers=writer, json=item(type, **fields))

    assert response.status_code == 201, response.text
    assert response.json()["type"] == type
    assert response.json()["data"] == data


def test_every_interaction_type_is_accepted(
    client: TestClient, writer: Headers, acme: dict[str, int]
) -> None:
    required = {"nps_response": {"score": 7},
                "meeting_scheduled": {"scheduled_for": "2027-01-01T00:00:00Z"}}
    for type in INTERACTION_TYPES:
        response = client.post(URL, headers=writer, json=item(type, **required.get(type, {})))
        assert response.status_code == 201, (type, response.text)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (item("nps_response"), {"score"}),
        (item("nps_response", score=11), {"score"}),
        (item("nps_response", score=-1), {"score"}),
        (item("nps_response", score="great"), {"score"}),
        (item("support_ticket", status="pending"), {"status"}),
        (item("support_ticket", severity="critical"), {"severity"}),
        (item("certification", level=6), {"level"}),
        (item("certification", level=0), {"level"}),
        (item("meeting_scheduled"), {"scheduled_for"}),
        (item("meeting_scheduled", scheduled_for="2026-11-01T10:00:00Z"), {"scheduled_for"}),
        (item("meeting_scheduled", scheduled_for="2027-01-10T10:00:00"), {"scheduled_for"}),
        (item("email_click", url="not a url"), {"url"}),
        (item("community_post", url="ftp://files.example/x"), {"url"}),
        (item("meeting", duration_minutes=-5), {"duration_minutes"}),
        (item("meeting", body="a", notes="b"), {"notes"}),
        (item("webinar", attended="maybe"), {"attended"}),
        (item("note", score=9), {"score"}),
        (item("call", subject="hello"), {"subject"}),
        (item("holiday"), {"type"}),
        ({"account_id": "acme", "occurred_at": WHEN}, {"type"}),
        (item(occurred_at="2026-11-20T10:00:00"), {"occurred_at"}),
        (item(occurred_at="yesterday"), {"occurred_at"}),
        (item(occurred_at="2026-12-24T10:00:00Z"), {"occurred_at"}),
        (item(account_id="ghost"), {"account_id"}),
        (item(contacts=["u-hana", "nobody@acme.jp"]), {"contacts[1]"}),
        (item(contacts=["u-x"]), {"contacts[0]"}),
        (item(contacts=[""]), {"contacts[0]"}),
        (item("meeting", attendees=[999999]), {"attendees[0]"}),
        (item(title="x" * 501), {"title"}),
        (item("nps_response", score=11, contacts=["ghost"], extra=1), {"score", "extra"}),
    ],
)
def test_invalid_interaction_is_422_naming_each_bad_field(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int],
    body: dict[str, Any], fields: set[str],
) -> None:
    response = client.post(URL, headers=writer, json=body)

    assert error_fields(response) == fields
    assert count(engine) == 0


def test_read_key_cannot_record_interactions(
    client: TestClient, reader: Headers, acme: dict[str, int]
) -> None:
    assert_problem(client.post(URL, headers=reader, json=item()), 403)


def test_deleted_account_takes_no_interactions(
    client: TestClient, writer: Headers, acme: dict[str, int]
) -> None:
    assert client.delete("/api/v1/accounts/acme", headers=writer).status_code == 204

    assert error_fields(client.post(URL, headers=writer, json=item())) == {"account_id"}


# -- idempotency -------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_stored_one_with_200(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    headers = {**writer, "Idempotency-Key": "retry-1"}
    body = item("nps_response", score=9, contacts=["u-hana"])

    first = client.post(URL, headers=headers, json=body)
    second = client.post(URL, headers=headers, json=body)

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert first.json()["external_id"] == "retry-1"
    assert count(engine) == 1
    assert count(engine, InteractionContact) == 1


def test_retry_is_recognised_whatever_the_offset_of_the_same_instant(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    first = client.post(URL, headers=writer, json=item(external_id="x1", occurred_at=WHEN))
    again = client.post(
        URL, headers=writer, json=item(external_id="x1", occurred_at="2026-11-20T01:00:00Z")
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert count(engine) == 1


def test_same_key_with_a_different_body_is_409(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    headers = {**writer, "Idempotency-Key": "retry-2"}
    assert client.post(URL, headers=headers, json=item("nps_response", score=9)).status_code == 201

    response = client.post(URL, headers=headers, json=item("nps_response", score=3))

    body = assert_problem(response, 409)
    assert "retry-2" in body["detail"]
    assert count(engine) == 1


def test_external_id_field_is_the_idempotency_key(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    body = item("support_ticket", external_id="zendesk-42", ticket_id="42")

    assert client.post(URL, headers=writer, json=body).status_code == 201
    assert client.post(URL, headers=writer, json=body).status_code == 200
    assert client.post(URL, headers=writer, json=body | {"severity": "high"}).status_code == 409
    assert count(engine) == 1


def test_header_and_external_id_must_agree(
    client: TestClient, writer: Headers, acme: dict[str, int]
) -> None:
    response = client.post(
        URL, headers={**writer, "Idempotency-Key": "a"}, json=item(external_id="b")
    )

    assert error_fields(response) == {"Idempotency-Key"}
    assert response.json()["errors"][0]["location"] == "header"


def test_concurrent_double_submit_stores_exactly_one(
    client: TestClient, auth: Callable[[str], Headers], engine: Engine, acme: dict[str, int]
) -> None:
    # Two keys, so the requests do not queue behind each other's key bookkeeping.
    senders = [{**auth("write"), "Idempotency-Key": "double-click"} for _ in range(2)]
    headers = senders[0]
    body = item("meeting", attendees=["u-hana", "u-ken"], notes="QBR")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit(headers: Headers) -> None:
        barrier.wait()
        statuses.append(client.post(URL, headers=headers, json=body).status_code)

    threads = [threading.Thread(target=submit, args=(h,)) for h in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # One wins (201). The other answers from the winner's row (200) or, on SQLite, where a
    # transaction that read before the winner committed cannot write, asks for a retry (503).
    assert sorted(statuses) in ([200, 201], [201, 503])
    assert count(engine) == 1
    assert count(engine, InteractionContact) == 2
    retry = client.post(URL, headers=headers, json=body)
    assert retry.status_code == 200
    assert count(engine) == 1


# -- batches -----------------------------------------------------------------------------------


def test_batch_records_all_and_says_how_many_were_new(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    batch = {"data": [
        item("nps_response", score=8, external_id="n-1"),
        item("webinar", name="Onboarding", contacts=["u-ken"]),
        item("support_ticket", severity="high", external_id="t-1"),
    ]}

    first = client.post(URL, headers=writer, json=batch)

    assert first.status_code == 201, first.text
    assert first.json()["created"] == 3
    assert first.json()["replayed"] == 0
    assert [d["type"] for d in first.json()["data"]] == ["nps_response", "webinar", "support_ticket"]
    assert first.json()["data"][1]["contacts"][0]["id"] == acme["ken"]
    assert count(engine) == 3


def test_batch_is_all_or_nothing_and_names_data_index_field(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    malformed = {"data": [item("note"), item("holiday"), item("nps_response", score=11)]}
    # Well-formed, but breaking rules that need the database or the clock.
    unacceptable = {"data": [
        item("note"),
        item("note", contacts=["ghost"]),
        item("meeting_scheduled", scheduled_for="2020-01-01T00:00:00Z"),
        item("note", account_id="ghost"),
    ]}

    first = client.post(URL, headers=writer, json=malformed)
    second = client.post(URL, headers=writer, json=unacceptable)

    assert error_fields(first) == {"data[1].type", "data[2].score"}
    assert error_fields(second) == {
        "data[1].contacts[0]", "data[2].scheduled_for", "data[3].account_id",
    }
    assert count(engine) == 0


def test_batch_limits(client: TestClient, writer: Headers, acme: dict[str, int]) -> None:
    assert error_fields(client.post(URL, headers=writer, json={"data": []})) == {"data"}
    too_many = {"data": [item() for _ in range(1001)]}
    assert error_fields(client.post(URL, headers=writer, json=too_many)) == {"data"}


def test_batch_retry_with_idempotency_key_creates_nothing(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    headers = {**writer, "Idempotency-Key": "import-7"}
    batch = {"data": [item("note", title="a"), item("note", title="b", external_id="mine")]}

    first = client.post(URL, headers=headers, json=batch)
    second = client.post(URL, headers=headers, json=batch)

    assert first.status_code == 201
    assert [d["external_id"] for d in first.json()["data"]] == ["import-7:0", "mine"]
    assert second.status_code == 200
    assert (second.json()["created"], second.json()["replayed"]) == (0, 2)
    assert second.json()["data"] == first.json()["data"]
    assert count(engine) == 2


def test_batch_with_some_already_stored(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    client.post(URL, headers=writer, json=item(external_id="e-1"))

    response = client.post(URL, headers=writer, json={"data": [
        item(external_id="e-1"), item(external_id="e-2"), item(external_id="e-2"),
    ]})

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["replayed"]) == (1, 2)
    assert count(engine) == 2


def test_batch_conflicts(
    client: TestClient, writer: Headers, engine: Engine, acme: dict[str, int]
) -> None:
    client.post(URL, headers=writer, json=item(external_id="e-1", title="first"))

    reused = client.post(URL, headers=writer, json={"data": [
        item(external_id="e-2"), item(external_id="e-1", title="changed"),
    ]})
    twins = client.post(URL, headers=writer, json={"data": [
        item(external_id="e-3", title="a"), item(external_id="e-3", title="b"),
    ]})

    assert_problem(reused, 409)
    assert error_fields(twins) == {"data[1].external_id"}
    assert count(engine) == 1


# -- reading -----------------------------------------------------------------------------------


def post(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = client.post(URL, headers=headers, json=item(**fields))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def listing(client: TestClient, headers: Headers, account: str = "acme", **params: Any) -> Any:
    return client.get(f"/api/v1/accounts/{account}/interactions", headers=headers, params=params)


def test_list_is_newest_first_and_pages_follow_occurred_at_then_id(
    client: TestClient, writer: Headers, reader: Headers, acme: dict[str, int]
) -> None:
    created = []
    for i in range(7):
        # Three share one instant, to check the id tie-break across page boundaries.
        when = AS_OF - dt.timedelta(days=min(i, 4))
        created.append(post(client, writer, title=f"n{i}", occurred_at=when.isoformat()))
    post(client, writer, account_id="other", title="elsewhere")

    items = walk(client, "/api/v1/accounts/acme/interactions", reader, limit=2)

    expected = sorted(created, key=lambda d: (d["occurred_at"], d["id"]), reverse=True)
    assert [d["id"] for d in items] == [d["id"] for d in expected]


def test_list_filters_by_type_and_dates(
    client: TestClient, writer: Headers, reader: Headers, acme: dict[str, int]
) -> None:
    post(client, writer, type="note", occurred_at="2026-11-01T10:00:00+09:00")
    post(client, writer, type="call", occurred_at="2026-11-10T23:30:00+09:00")
    post(client, writer, type="nps_response", score=9, occurred_at="2026-11-11T00:30:00+09:00")
    post(client, writer, type="webinar", occurred_at="2026-11-20T10:00:00+09:00")

    def types(**params: Any) -> list[str]:
        response = listing(client, reader, **params)
        assert response.status_code == 200, response.text
        return [d["type"] for d in response.json()["data"]]

    assert types(type=["note", "webinar"]) == ["webinar", "note"]
    assert types(type="note,call") == ["call", "note"]
    # Dates are whole days in the team's time zone (Asia/Tokyo); `to` includes its day.
    assert types(**{"from": "2026-11-10", "to": "2026-11-10"}) == ["call"]
    assert types(**{"from": "2026-11-11"}) == ["webinar", "nps_response"]
    assert types(to="2026-11-10") == ["call", "note"]
    assert types(**{"from": "2026-11-10T14:30:00Z", "to": "2026-11-10T15:30:00Z"}) == [
        "nps_response", "call",
    ]
    assert types(**{"from": "2026-11-10T14:30:00Z", "to": "2026-11-10T15:29:59Z"}) == ["call"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "holiday"}, "type"),
        ({"from": "2026-11-10T10:00:00"}, "from"),
        ({"to": "last week"}, "to"),
        ({"from": "2026-11-10", "to": "2026-11-01"}, "to"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    client: TestClient, reader: Headers, acme: dict[str, int], params: dict[str, str], field: str
) -> None:
    response = listing(client, reader, **params)

    assert error_fields(response) == {field}
    assert response.json()["errors"][0]["location"] == "query"


def test_list_items_carry_their_contacts(
    client: TestClient, writer: Headers, reader: Headers, acme: dict[str, int]
) -> None:
    post(client, writer, type="meeting", attendees=["u-ken", "u-hana", "ken@acme.jp"])

    (only,) = listing(client, reader).json()["data"]

    assert [c["id"] for c in only["contacts"]] == sorted([acme["hana"], acme["ken"]])


def test_unknown_account_and_interaction_are_404(
    client: TestClient, reader: Headers, acme: dict[str, int]
) -> None:
    assert_problem(listing(client, reader, account="ghost"), 404)
    assert_problem(client.get(f"{URL}/999999", headers=reader), 404)
