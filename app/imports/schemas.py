"""Response bodies for CSV imports."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.imports.service import ImportKind


class RowErrorPublic(BaseModel):
    row: int = Field(description="Spreadsheet row: the header is row 1, the first data row is 2")
    column: str | None = Field(description="The CSV column, as in the header")
    message: str


class ImportReportPublic(BaseModel):
    kind: ImportKind
    dry_run: bool
    partial: bool
    rows: int = Field(description="Data rows read")
    created: int
    updated: int
    unchanged: int = Field(description="Rows already stored as given (re-imported)")
    errors: list[RowErrorPublic] = Field(description="The first 1,000 errors")
    error_count: int
    committed: bool = Field(description="Whether the good rows were written")
