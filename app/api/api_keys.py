"""API keys, managed by holders of an admin key."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.common import BODY, ERRORS, NOT_FOUND
from app.auth import api_keys as svc
from app.auth.last_used import LastUsed
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.deps import AdminKeyDep, LastUsedDep, NowDep, SessionDep
from app.models import ApiKey
from app.pagination import Page
from app.types import DbId

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=ERRORS)


@router.get("", response_model=Page[ApiKeyPublic])
def list_keys(session: SessionDep, last_used: LastUsedDep, _key: AdminKeyDep) -> Page[ApiKeyPublic]:
    """All keys, newest first; secrets are never shown again."""
    return Page(data=[_public(k, last_used) for k in svc.list_api_keys(session)])


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
def revoke_key(
    key_id: DbId, session: SessionDep, now: NowDep, last_used: LastUsedDep, _key: AdminKeyDep
) -> ApiKeyPublic:
    """Revoke a key at once; requests with it get 401 from now on."""
    return _public(svc.revoke_api_key(session, ref=key_id, now=now), last_used)


def _public(key: ApiKey, last_used: LastUsed) -> ApiKeyPublic:
    public = ApiKeyPublic.model_validate(key, from_attributes=True)
    return public.model_copy(update={"last_used_at": last_used.key_last_used(key)})
