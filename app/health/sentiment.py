"""Sentiment: a CSM's manual rating of an account, one of the health models' inputs."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from app.accounts.service import get_account
from app.errors import InvalidInput
from app.health import score_queue
from app.models import SentimentRating


def rate_sentiment(
    session: Session,
    *,
    account_id: str,
    rating: int,
    comment: str | None,
    author_user_id: int | None,
    now: dt.datetime,
) -> SentimentRating:
    """Record a CSM's manual rating (1–5) for the account under its current owner."""
    if not 1 <= rating <= 5:
        raise InvalidInput.field("rating", "must be 1 to 5")
    account = get_account(session, account_id)
    assert account.id is not None
    entry = SentimentRating(
        account_id=account.id,
        rating=rating,
        comment=comment,
        author_user_id=author_user_id,
        owner_id=account.owner_id,
        created_at=now,
    )
    session.add(entry)
    score_queue.mark_dirty(session, {account.id}, now)
    session.flush()
    return entry
