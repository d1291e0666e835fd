"""Reading a rules object (stage rules, signal rules, priority weights) from its JSON form.

Every tunable field is a number ≥ 0; a field whose default is an int takes whole numbers only
(``5.0`` is read as 5, ``5.5`` is refused). Missing keys keep their defaults.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

T = TypeVar("T")


def numbers_from_json(
    defaults: T, data: dict[str, Any], *, what: str, skip: frozenset[str] = frozenset()
) -> T:
    """``defaults`` with the numbers of ``data`` put in; unknown keys or bad values raise ValueError."""
    known = {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{key} must be a number ≥ 0")
        if isinstance(getattr(defaults, key), int):
            if not float(value).is_integer():
                raise ValueError(f"{key} must be a whole number")
            value = int(value)
        values[key] = value
    return replace(defaults, **values)  # type: ignore[type-var]
