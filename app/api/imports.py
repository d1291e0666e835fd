"""CSV import through the admin API (the same importer as `bansou import`).

The CSV is the raw request body. Bodies under ``/api`` are capped by ``BANSOU_MAX_BODY_BYTES``
(5 MiB by default); import bigger files with the CLI, which streams them.
"""

from __future__ import annotations

import codecs
import io
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from app.api.common import BODY, ERRORS
from app.deps import AdminKeyDep, NowDep, SessionDep, SettingsDep
from app.errors import InvalidInput
from app.imports import service as svc
from app.imports.schemas import ImportReportPublic

router = APIRouter(prefix="/imports", tags=["imports"], responses=ERRORS)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "/{kind}", response_model=ImportReportPublic,
    responses={
        **BODY,
        422: {
            "description": "Bad rows in an all-or-nothing import: nothing was written. The "
            "problem carries the report's fields (`errors`: `{row, column, message}`)",
            **_PROBLEM,
        },
    },
    # The same bytes under either type: text/csv says what it is, octet-stream is the upload
    # that client generators know how to send.
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {
            "schema": {"type": "string", "contentMediaType": "text/csv",
                       "description": "The CSV, header first"},
            "example": "id,name,industry\nacme,Acme,saas\n",
        },
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary", "description": "The CSV file"},
        },
    }}},
)
def import_csv(
    kind: svc.ImportKind,
    body: Annotated[bytes, Body(media_type="text/csv", description="The CSV, header first")],
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    _key: AdminKeyDep,
    dry_run: Annotated[bool, Query(description="Check every row, write nothing")] = False,
    partial: Annotated[bool, Query(description="Keep the good rows, report the bad ones")] = False,
    encoding: Annotated[
        str, Query(description="utf-8-sig (UTF-8 with or without BOM), cp932, ...")
    ] = "utf-8-sig",
    map_: Annotated[
        list[str] | None,
        Query(alias="map", description="`CSVCOLUMN=FIELD`, repeatable; `FIELD` empty skips it"),
    ] = None,
) -> ImportReportPublic:
    """Import accounts, contacts, interactions or daily usage from CSV (admin scope).

    The body is the CSV, header first. Bodies over `BANSOU_MAX_BODY_BYTES` (5 MiB by default)
    get 413: import big files with `bansou import KIND FILE.csv`, which streams them.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidInput.field("encoding", f"unknown encoding {encoding!r}", "query") from None
    stream = io.TextIOWrapper(io.BytesIO(body), encoding=encoding, newline="")
    report = svc.import_csv(
        session, kind=kind, stream=stream, now=now, mapping=svc.parse_mapping(map_ or []),
        dry_run=dry_run, partial=partial, tz=settings.tz,
    )
    report.raise_if_rejected()
    return ImportReportPublic.model_validate(report.as_dict())
