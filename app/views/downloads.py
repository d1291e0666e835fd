"""Tables as CSV downloads: UTF-8 with a byte order mark (spreadsheets need it to read Japanese
names), CRLF line ends, and a file name for the browser to save under.

A text cell that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab or carriage
return first: an account named ``=HYPERLINK(...)``) gets a leading ``'``, as OWASP advises for CSV
injection; numbers, and text that is only a number (``-12.5``), are left as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from starlette.responses import Response

from app.views import htmx

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*%?")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will show it, never run it."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_response(name: str, rows: Iterable[Sequence[object]]) -> Response:
    """A CSV attachment named ``name`` with these rows (the header row first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return htmx.vary(Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    ))
