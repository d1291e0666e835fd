"""Certification levels of customer users, and what intervention analysis stores."""

from __future__ import annotations

__all__: list[str] = []
