"""Tables and lists found in a passage's text, so that a window keeps them whole where they fit.

A block is a run of at least two rows of one kind (`passage.row_kind`): pipe-table rows (no blank line
between them), list items, or rendered table rows that start with the same column name (Lore's parser
writes a table as one `column: value; column: value` line per row). Items of a list may be apart by blank
lines. A pipe table's first row (and its `|---|` line) is its header: a window that starts below it gets
it in front, so a row is never read without the names of its columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.windows.passage import ROW, kind_of

_ROW_LINES = re.compile(ROW.pattern, re.MULTILINE)
_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}")  # the |---|---| line under a pipe table's header


@dataclass(frozen=True)
class Block:
    """A table or list: `text[start:end]` (whole lines); `header` is what a part of it needs in front."""

    start: int
    end: int
    header: str = ""


def _block(text: str, kind: str, rows: list[tuple[int, int]]) -> Block:
    start, end = rows[0][0], rows[-1][1]
    if kind != "pipe":
        return Block(start, end)
    head = rows[: 2 if _RULE.match(text[rows[1][0] : rows[1][1]]) else 1]
    return Block(start, end, text[head[0][0] : head[-1][1]])


def find_blocks(text: str) -> list[Block]:
    """The tables and lists of `text`, in order."""
    blocks: list[Block] = []
    kind: str | None = None
    rows: list[tuple[int, int]] = []
    for match in _ROW_LINES.finditer(text):
        start = match.start()
        end = text.find("\n", start) + 1 or len(text)
        this = kind_of(match)
        gap = text[rows[-1][1] : start] if rows else ""
        # pipe rows follow each other; list items and rendered rows may stand apart by blank lines
        if this == kind and (not gap if kind == "pipe" else not gap.strip()):
            rows.append((start, end))
            continue
        if kind is not None and len(rows) >= 2:
            blocks.append(_block(text, kind, rows))
        kind, rows = this, [(start, end)]
    if kind is not None and len(rows) >= 2:
        blocks.append(_block(text, kind, rows))
    return blocks
