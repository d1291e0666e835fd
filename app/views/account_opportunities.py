"""The account page's panel of expansion opportunities of an account
(context for ``accounts/_opportunities.html``)."""

from __future__ import annotations

from typing import Any

from app.views.page import Viewer


def opportunities_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows (nothing yet: the panel renders empty)."""
    return {}
