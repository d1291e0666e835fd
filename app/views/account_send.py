"""The account page's Send adoption summary panel
(context for ``accounts/_send_report.html``)."""

from __future__ import annotations

from typing import Any

from app.views.page import Viewer


def send_report_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """What the panel shows (nothing yet: the panel renders empty)."""
    return {}
