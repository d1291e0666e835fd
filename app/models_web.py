"""Web sessions and login throttling."""

from __future__ import annotations

__all__: list[str] = []
