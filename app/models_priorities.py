"""Stages, signals, weekly priority lists and feedback."""

from __future__ import annotations

__all__: list[str] = []
