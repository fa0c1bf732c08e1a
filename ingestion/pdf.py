"""PDF text with pdfminer.six, headings from font sizes.

unstructured 0.27's `partition_pdf` cannot be imported without its [pdf] extra: even `strategy="fast"`
imports `unstructured_inference` (which requires torch), OpenCV and pi_heif at module level. Its fast
strategy is pdfminer text extraction, so Lore calls pdfminer directly and keeps the same outcome: text
boxes in reading order, no OCR, no layout model, nothing downloaded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel

HEADING_RATIO = 1.2  # a line set this much larger than the body text is a heading
HEADING_MAX_CHARS = 150


class Block(BaseModel):
    """One text box of a page with its dominant font size."""

    page: int
    text: str
    size: float


class PdfLine(BaseModel):
    """A text box classified as heading (depth 0 = largest) or body (depth None)."""

    page: int
    text: str
    depth: int | None


def _blocks(path: Path) -> tuple[int, list[Block]]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    pages = 0
    blocks: list[Block] = []
    for number, page in enumerate(extract_pages(path), start=1):
        pages = number
        for box in page:
            if not isinstance(box, LTTextContainer):
                continue
            text = " ".join(box.get_text().split())
            if not text:
                continue
            lines = [line for line in box if isinstance(line, LTTextLine)]
            sizes = Counter(round(c.size, 1) for line in lines for c in line if isinstance(c, LTChar))
            size = sizes.most_common(1)[0][0] if sizes else 0.0
            blocks.append(Block(page=number, text=text, size=size))
    return pages, blocks


def read_pdf(path: Path) -> tuple[int, list[PdfLine]]:
    """Page count and the text boxes of `path`; raises pdfminer's errors for unreadable files."""
    pages, blocks = _blocks(path)
    weight: Counter[float] = Counter()
    for block in blocks:
        weight[block.size] += len(block.text)
    body = weight.most_common(1)[0][0] if weight else 0.0
    heading_sizes = sorted(
        {b.size for b in blocks if _is_heading(b, body)},
        reverse=True,
    )
    depth = {size: i for i, size in enumerate(heading_sizes)}
    lines = [
        PdfLine(page=b.page, text=b.text, depth=depth[b.size] if _is_heading(b, body) else None)
        for b in blocks
    ]
    return pages, lines


def _is_heading(block: Block, body: float) -> bool:
    return body > 0 and block.size >= body * HEADING_RATIO and len(block.text) <= HEADING_MAX_CHARS
