"""Interactions: record meetings, emails, tickets, NPS answers and attendance; list an account's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from app.api.common import BODY, ERRORS, NOT_FOUND
from app.deps import NowDep, ReadKeyDep, SessionDep, SettingsDep, WriteKeyDep
from app.interactions import service as svc
from app.interactions.schemas import (
    REQUEST_TAGS,
    InteractionBatchIn,
    InteractionBatchPublic,
    InteractionContactPublic,
    InteractionPublic,
    InteractionRequest,
)
from app.pagination import Page, PageParams, page_params
from app.types import DbId
from app.validation import route_class

router = APIRouter(tags=["interactions"], responses=ERRORS, route_class=route_class(REQUEST_TAGS))

_REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"description": "A retry of one already stored: the stored interaction, nothing new"},
    409: {
        "description": "The idempotency key was used for a different interaction",
        "content": {"application/problem+json": {}},
    },
    503: {
        "description": "A concurrent write held the lock; nothing was written: retry after "
        "`Retry-After` seconds",
        "content": {"application/problem+json": {}},
    },
}


def interaction_public(view: svc.InteractionView) -> InteractionPublic:
    row = view.interaction
    return InteractionPublic(
        id=row.id or 0, account_id=view.account_external_id, type=row.type,
        occurred_at=row.occurred_at, external_id=row.external_id, author=row.author,
        title=row.title, body=row.body, data=row.data,
        contacts=[
            InteractionContactPublic(id=c.id or 0, name=c.name, email=c.email)
            for c in view.contacts
        ],
        created_at=row.created_at,
    )


@router.post(
    "/interactions", status_code=status.HTTP_201_CREATED,
    response_model=InteractionPublic | InteractionBatchPublic, responses={**_REPLAY, **BODY},
)
def create_interactions(
    request_in: Annotated[InteractionRequest, Body()],
    session: SessionDep,
    now: NowDep,
    _key: WriteKeyDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", min_length=1, max_length=200,
            description="Makes a retry safe: the same key and body again creates nothing",
        ),
    ] = None,
) -> InteractionPublic | InteractionBatchPublic:
    """Record one interaction, or a batch `{"data": [...]}` of up to 1,000 (all or nothing)."""
    if isinstance(request_in, InteractionBatchIn):
        views = svc.create_interactions(
            session, interactions_in=request_in.data, idempotency_key=idempotency_key, now=now
        )
        created = sum(v.created for v in views)
        if not created:
            response.status_code = status.HTTP_200_OK
        return InteractionBatchPublic(
            data=[interaction_public(v) for v in views], created=created,
            replayed=len(views) - created,
        )
    view = svc.create_interaction(
        session, interaction_in=request_in, idempotency_key=idempotency_key, now=now
    )
    if not view.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/v1/interactions/{view.interaction.id}"
    return interaction_public(view)


@router.get("/interactions/{interaction_id}", response_model=InteractionPublic, responses=NOT_FOUND)
def get_interaction(interaction_id: DbId, session: SessionDep, _key: ReadKeyDep) -> InteractionPublic:
    """One interaction."""
    return interaction_public(svc.get_interaction(session, interaction_id))


@router.get(
    "/accounts/{account_id}/interactions", response_model=Page[InteractionPublic],
    responses=NOT_FOUND,
)
def list_interactions(
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    type: Annotated[
        list[str] | None, Query(description="Types to include; repeat it or use a comma list")
    ] = None,
    from_: Annotated[
        str | None,
        Query(alias="from", description="A date (in the team's time zone) or an aware date-time"),
    ] = None,
    to: Annotated[
        str | None, Query(description="A date (that whole day included) or an aware date-time")
    ] = None,
) -> Page[InteractionPublic]:
    """An account's interactions, newest first."""
    filters = svc.interaction_filters(types=type, start=from_, end=to, tz=settings.tz)
    result = svc.list_interactions(session, account_id=account_id, filters=filters, page=page)
    return Page(data=[interaction_public(v) for v in result.items], next_cursor=result.next_cursor)
