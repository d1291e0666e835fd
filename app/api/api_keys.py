"""API keys, managed by holders of an admin key."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.common import BODY, ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, SessionDep
from app.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Page
from app.services import api_keys as svc

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=ERRORS)


@router.get("", response_model=Page[ApiKeyPublic])
def list_keys(session: SessionDep, _key: AdminKeyDep) -> Page[ApiKeyPublic]:
    """All keys, newest first; secrets are never shown again."""
    keys = svc.list_api_keys(session)
    return Page(data=[ApiKeyPublic.model_validate(k, from_attributes=True) for k in keys])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated, responses=BODY
)
def create_key(
    key_in: ApiKeyCreate, session: SessionDep, now: NowDep, _key: AdminKeyDep
) -> ApiKeyCreated:
    """Issue a key; the response holds its secret, shown this once."""
    key, secret = svc.create_api_key(session, name=key_in.name, scope=key_in.scope, now=now)
    return ApiKeyCreated(**ApiKeyPublic.model_validate(key, from_attributes=True).model_dump(),
                         key=secret)


@router.delete("/{key_id}", response_model=ApiKeyPublic, responses=NOT_FOUND)
def revoke_key(key_id: int, session: SessionDep, now: NowDep, _key: AdminKeyDep) -> ApiKeyPublic:
    """Revoke a key at once; requests with it get 401 from now on."""
    key = svc.revoke_api_key(session, ref=key_id, now=now)
    return ApiKeyPublic.model_validate(key, from_attributes=True)
