"""Tables and spreadsheets as retrievable text.

A table becomes one line per row with each value named by its column ("team: Finance; phone: 456"), so a
row read alone, in whichever chunk it lands, still says what its numbers mean. unstructured's own table
text ("name team phone Alice Finance 123 Bob IT 456") loses both the row boundaries and the column names.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

from pydantic import BaseModel

Rows = list[list[str]]


class Sheet(BaseModel):
    """One worksheet of a workbook, cells as text."""

    name: str
    rows: Rows


class _TableParser(HTMLParser):
    """Collects the cell texts of an HTML table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: Rows = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_rows(html: str) -> Rows:
    """The rows of the first-level cells in `html` (unstructured's `text_as_html`)."""
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    return [row for row in parser.rows if any(row)]


def render_rows(rows: Rows) -> str:
    """Rows as text: the first row names the columns of every later row; one line per row."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2 or len(rows[0]) < 2:
        return "\n".join(" | ".join(cell for cell in row if cell) for row in rows)
    header, body = rows[0], rows[1:]
    lines = []
    for row in body:
        pairs = []
        for i, value in enumerate(row):
            if not value:
                continue
            name = header[i] if i < len(header) else ""
            pairs.append(f"{name}: {value}" if name else value)
        lines.append("; ".join(pairs))
    return "\n".join(lines)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def read_workbook(path: Path) -> list[Sheet]:
    """Every worksheet of an .xlsx file with its non-empty rows (cached values, not formulas)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = []
        for sheet in book.worksheets:
            rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            sheets.append(Sheet(name=sheet.title, rows=[row for row in rows if any(row)]))
        return sheets
    finally:
        book.close()
