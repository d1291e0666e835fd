"""Expansion opportunities: the upsell pipeline per account."""

from __future__ import annotations

__all__: list[str] = []
