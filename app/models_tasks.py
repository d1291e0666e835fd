"""Industry tiers, account history, playbooks and tasks."""

from __future__ import annotations

__all__: list[str] = []
