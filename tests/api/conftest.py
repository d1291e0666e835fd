"""Fixtures for the JSON API tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Headers = dict[str, str]


@pytest.fixture
def writer(auth: Callable[[str], Headers]) -> Headers:
    """Headers of a write-scoped key, for setting up data through the API."""
    return auth("write")


@pytest.fixture
def reader(auth: Callable[[str], Headers]) -> Headers:
    """Headers of a read-scoped key."""
    return auth("read")
