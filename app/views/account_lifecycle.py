"""The account page's panel for stage, tier, active signals and open tasks of an account
(context for ``accounts/_lifecycle.html``)."""

from __future__ import annotations

from typing import Any

from app.views.page import Viewer


def lifecycle_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows (nothing yet: the panel renders empty)."""
    return {}
