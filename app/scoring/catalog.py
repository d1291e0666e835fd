"""Mapping event names to product features.

A feature lists the event names that count as using it: exact names (``Report Created``) or
shell-style patterns (``report.*``, ``page:/reports/*``). An event belongs to the first feature
whose exact name matches; failing that, to the first feature with a matching pattern (features
in catalog order). Events that match nothing are still counted, under no feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True)
class FeatureRule:
    key: str
    patterns: tuple[str, ...]
    is_key: bool = False


def is_pattern(text: str) -> bool:
    return any(c in _WILDCARDS for c in text)


class Catalog:
    """Classifies event names; exact names are a dict lookup, patterns are tried in order."""

    def __init__(self, rules: Iterable[FeatureRule]) -> None:
        self.rules = tuple(rules)
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[str, str]] = []
        for rule in self.rules:
            for pattern in rule.patterns:
                if is_pattern(pattern):
                    self._patterns.append((pattern, rule.key))
                else:
                    self._exact.setdefault(pattern, rule.key)

    def feature_of(self, event: str) -> str | None:
        """The key of the feature this event counts for, or None if it is unmapped."""
        key = self._exact.get(event)
        if key is not None:
            return key
        for pattern, key in self._patterns:
            if fnmatchcase(event, pattern):
                return key
        return None

    @property
    def key_features(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.rules if r.is_key)
