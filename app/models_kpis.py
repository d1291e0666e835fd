"""Team KPI storage (only what no other table already holds)."""

from __future__ import annotations

__all__: list[str] = []
