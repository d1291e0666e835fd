"""CSM users, read-only over the API (users are managed with the CLI and, later, the admin pages)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.common import ERRORS
from app.auth import users as svc
from app.auth.schemas import UserPublic
from app.deps import ReadKeyDep, SessionDep
from app.pagination import Page

router = APIRouter(prefix="/users", tags=["users"], responses=ERRORS)


@router.get("", response_model=Page[UserPublic])
def list_users(session: SessionDep, _key: ReadKeyDep) -> Page[UserPublic]:
    """All users (a team has tens, so one page)."""
    return Page(
        data=[UserPublic.model_validate(u, from_attributes=True) for u in svc.list_users(session)]
    )
