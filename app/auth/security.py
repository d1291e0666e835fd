"""Secrets: password hashing (argon2 via pwdlib) and random tokens stored as SHA-256 digests.

API keys and write keys are 256-bit random tokens, so a fast digest is the right storage (a slow
password hash would only slow every request); passwords are low-entropy, so they get argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether the password matches the stored hash (constant time inside argon2)."""
    try:
        return _hasher().verify(password, password_hash)
    except Exception:  # a malformed stored hash must read as "no", never crash a login
        return False


def digest(token: str) -> str:
    """The hex SHA-256 of a random token, as stored in the database."""
    return hashlib.sha256(token.encode()).hexdigest()


def digest_matches(token: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    return hmac.compare_digest(digest(token), stored_digest)


def new_token(kind: str) -> tuple[str, str]:
    """A fresh ``(prefix, token)``: ``bsk_1a2b3c4d_<43 chars>``; the prefix is safe to show."""
    prefix = f"{kind}_{secrets.token_hex(4)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def token_prefix(token: str) -> str | None:
    """The visible prefix of a token we issued, or None if it does not have our shape."""
    parts = token.split("_", 2)
    if len(parts) != 3 or not parts[0] or len(parts[1]) != 8:
        return None
    return f"{parts[0]}_{parts[1]}"
