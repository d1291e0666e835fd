"""The interactions service below the API: the race a unique key settles, and reuse by imports."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from app.errors import Conflict
from app.interactions import service as interactions
from app.interactions.schemas import AnyInteractionIn, InteractionIn
from app.models import Interaction
from tests.builders import AS_OF, make_account

_ADAPTER: TypeAdapter[AnyInteractionIn] = TypeAdapter(InteractionIn)


def note(**fields: Any) -> AnyInteractionIn:
    data = {"type": "note", "account_id": "acme", "occurred_at": "2026-11-20T10:00:00Z"}
    return _ADAPTER.validate_python(data | fields)


@pytest.fixture
def acme(engine: Engine) -> None:
    with Session(engine) as s:
        make_account(s)
        s.commit()


def stored(engine: Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Interaction)).one()


@pytest.mark.parametrize(("title", "outcome"), [("same", "replay"), ("other", "conflict")])
def test_losing_the_insert_race_answers_from_the_winners_row(
    engine: Engine, acme: None, monkeypatch: pytest.MonkeyPatch, title: str, outcome: str
) -> None:
    with Session(engine) as winner:
        interactions.create_interaction(
            winner, interaction_in=note(external_id="k", title="same"), now=AS_OF
        )
        winner.commit()
    # The loser checked for the key before the winner committed: its first look finds nothing.
    real = interactions._match_stored
    looks: list[int] = []

    def late_look(session: Session, plans: list[Any]) -> None:
        looks.append(1)
        if len(looks) > 1:
            real(session, plans)

    monkeypatch.setattr(interactions, "_match_stored", late_look)

    with Session(engine) as loser:
        if outcome == "replay":
            view = interactions.create_interaction(
                loser, interaction_in=note(external_id="k", title=title), now=AS_OF
            )
            assert view.created is False
            assert view.interaction.title == "same"
        else:
            with pytest.raises(Conflict):
                interactions.create_interaction(
                    loser, interaction_in=note(external_id="k", title=title), now=AS_OF
                )
        loser.commit()

    assert len(looks) >= 2  # the unique constraint sent it back to look again
    assert stored(engine) == 1


def test_rows_stored_without_a_hash_still_own_their_key(engine: Engine, acme: None) -> None:
    with Session(engine) as s:
        first = interactions.create_interaction(
            s, interaction_in=note(external_id="legacy"), now=AS_OF
        )
        first.interaction.request_hash = None
        s.commit()
        again = interactions.create_interaction(
            s, interaction_in=note(external_id="legacy", title="changed"), now=AS_OF
        )

    assert again.created is False
    assert stored(engine) == 1
