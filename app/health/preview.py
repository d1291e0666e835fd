"""Previewing a draft health model: every active account scored with the draft (nothing stored)
and its bands compared with the published version's."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.errors import InvalidInput
from app.health.models import get_model, parse_definition, published_version, version_spec, versions
from app.health.scores import score_accounts


@dataclass(frozen=True)
class Preview:
    as_of: dt.date
    accounts: int
    before: dict[str, int]
    after: dict[str, int]
    moved: dict[str, int]  # "good→bad": n
    biggest_changes: list[dict[str, Any]]


def preview(
    session: Session,
    *,
    model_id: int,
    definition: dict[str, Any] | None,
    as_of: dt.date,
    tz: ZoneInfo,
) -> Preview:
    """Score every active account with a draft definition (nothing stored) and compare the bands
    with the published version's."""
    model = get_model(session, model_id)
    if definition is None:
        draft = next((v for v in versions(session, model_id) if v.state == "draft"), None)
        if draft is None:
            raise InvalidInput.field("definition", "give a definition, or save a draft first")
        definition = draft.definition
    spec = parse_definition(definition)
    after = score_accounts(session, spec=spec, as_of=as_of, tz=tz)
    published = published_version(session, model.id or 0)
    before_scores: dict[int, tuple[float | None, str | None]] = {}
    if published is not None:
        before_spec = version_spec(published)
        for s in score_accounts(session, spec=before_spec, as_of=as_of, tz=tz):
            before_scores[s.account.id] = (s.score, s.band)
    before_bands = Counter(b or "none" for _, b in before_scores.values())
    after_bands: Counter[str] = Counter(s.band or "none" for s in after)
    moved: Counter[str] = Counter()
    changes: list[dict[str, Any]] = []
    for s in after:
        old_score, old_band = before_scores.get(s.account.id, (None, None))
        if published is not None and old_band != s.band:
            moved[f"{old_band or 'none'}→{s.band or 'none'}"] += 1
        if old_score is not None and s.score is not None:
            changes.append(
                {
                    "account_id": s.account.external_id,
                    "before": old_score,
                    "after": s.score,
                    "change": round(s.score - old_score, 2),
                }
            )
    changes.sort(key=lambda c: -abs(c["change"]))
    return Preview(as_of, len(after), dict(before_bands), dict(after_bands), dict(moved), changes[:20])
