"""Fixtures for the JSON API tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import set_node_id

Headers = dict[str, str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each generated API test (``test_fuzz.py``) its operation in its node id.

    Schemathesis names them ``test_api[GET /path]``, but pytest 9 builds a node id from the
    function's name, so all of them shared one id, and pytest-xdist, which hands out tests by
    id, ran only the first: one operation fuzzed instead of all of them."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is None or item.nodeid.endswith("]"):
            continue
        set_node_id(item, f"{item.nodeid}[{label}]")
    shared = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    assert not shared, f"tests share a node id, so pytest-xdist would run one of each: {shared}"


@pytest.fixture
def writer(auth: Callable[[str], Headers]) -> Headers:
    """Headers of a write-scoped key, for setting up data through the API."""
    return auth("write")


@pytest.fixture
def reader(auth: Callable[[str], Headers]) -> Headers:
    """Headers of a read-scoped key."""
    return auth("read")
