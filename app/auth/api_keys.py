"""API keys for other services: issue, authenticate, list, revoke.

Scopes are ordered read < write < admin; a key satisfies any scope at or below its own.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from app.auth.last_used import LastUsed
from app.auth.security import digest, digest_matches, new_token, token_prefix
from app.errors import InvalidInput, NotAuthenticated, NotFound, NotPermitted
from app.models import API_SCOPES, ApiKey

KEY_KIND = "bsk"


def scope_allows(have: str, need: str) -> bool:
    """Whether a key of scope ``have`` may do what needs ``need``."""
    return API_SCOPES.index(have) >= API_SCOPES.index(need)


def create_api_key(
    session: Session, *, name: str, scope: str, now: dt.datetime, created_by_id: int | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned once and only its digest is stored."""
    if scope not in API_SCOPES:
        raise InvalidInput.field("scope", f"must be one of {', '.join(API_SCOPES)}")
    if not name.strip():
        raise InvalidInput.field("name", "must not be empty")
    prefix, secret = new_token(KEY_KIND)
    key = ApiKey(
        name=name.strip(), prefix=prefix, secret_hash=digest(secret), scope=scope,
        created_at=now, created_by_id=created_by_id,
    )
    session.add(key)
    session.flush()
    return key, secret


def authenticate(
    session: Session, *, token: str, need: str, now: dt.datetime, last_used: LastUsed
) -> ApiKey:
    """The live key behind ``token``: 401 if unknown or revoked, 403 if its scope is too small.

    Its use is noted in ``last_used`` (written later, outside this transaction): reading with a
    key writes nothing.
    """
    prefix = token_prefix(token)
    key = None
    if prefix is not None:
        key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    # Compare against a dummy digest when the prefix is unknown, so timing does not tell.
    stored = key.secret_hash if key is not None else digest("")
    if not digest_matches(token, stored) or key is None or key.revoked_at is not None:
        raise NotAuthenticated("invalid or revoked API key")
    if not scope_allows(key.scope, need):
        raise NotPermitted(f"this API key has scope {key.scope}; this operation needs {need}")
    assert key.id is not None
    last_used.note_key(key.id, now)
    return key


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Keys, newest first."""
    query = select(ApiKey).order_by(ApiKey.id.desc())  # type: ignore[union-attr]
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return list(session.exec(query).all())


def get_api_key(session: Session, ref: str | int) -> ApiKey:
    """A key by numeric id or visible prefix."""
    key: ApiKey | None
    if isinstance(ref, int) or str(ref).isdigit():
        key = session.get(ApiKey, int(ref))
    else:
        key = session.exec(select(ApiKey).where(ApiKey.prefix == ref)).first()
    if key is None:
        raise NotFound(f"no API key {ref}")
    return key


def revoke_api_key(session: Session, *, ref: str | int, now: dt.datetime) -> ApiKey:
    """Revoke a key (idempotent: revoking twice keeps the first time)."""
    key = get_api_key(session, ref)
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
    return key
