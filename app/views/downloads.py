"""Tables as CSV downloads: UTF-8 with a byte order mark (spreadsheets need it to read Japanese
names), CRLF line ends, and a file name for the browser to save under."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from starlette.responses import Response

from app.views import htmx


def csv_response(name: str, rows: Iterable[Sequence[object]]) -> Response:
    """A CSV attachment named ``name`` with these rows (the header row first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return htmx.vary(Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    ))
