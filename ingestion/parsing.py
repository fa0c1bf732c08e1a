"""Files into titled, heading-aware sections of text.

Each supported type is read with unstructured's partitioner for it (PDF and xlsx with what those
partitioners use underneath, see `pdf.py` and `tables.py`). `Title` elements with a depth become the
heading path of the text that follows them; tables become one line per row with column names; list
items keep a `- ` in front, so a context window can tell a list and keep it whole (knowledge/windows).
Everything that goes wrong is a `ParseError` whose `reason` can be shown on the source's status.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ingestion.archives import ZIP_SUFFIXES, ArchiveError, check_archive
from ingestion.offline import OfflineSetupError, prepare_unstructured
from ingestion.pdf import read_pdf
from ingestion.tables import html_rows, read_workbook, render_rows

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

SUPPORTED = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx", ".csv"}
TEXT_TYPES = {".md", ".markdown", ".txt", ".html", ".htm", ".csv"}
MAX_CONTROL_SHARE = 0.02  # more control characters than this and a "text" file is binary
_JUNK = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")


class Section(BaseModel):
    """Text under one heading path (outermost heading first)."""

    heading_path: list[str]
    text: str


class ParsedDocument(BaseModel):
    """A parsed file: its title and its sections in reading order."""

    title: str
    sections: list[Section]


class ParseError(Exception):
    """A file that cannot be indexed; `reason` is short and fit to show to an admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Item(BaseModel):
    text: str
    depth: int | None = None  # None: body text; 0: h1, 1: h2, ...


def parse_file(path: Path, *, max_bytes: int) -> ParsedDocument:
    """Parse `path` into sections; raises `ParseError` for anything that cannot be indexed."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        shown = suffix or "(none)"
        raise ParseError(f"unsupported file type {shown} (supported: {', '.join(sorted(SUPPORTED))})")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise ParseError("empty file")
    if size > max_bytes:
        raise ParseError(f"file too large ({_mb(size)} > {_mb(max_bytes)} limit)")
    if suffix in ZIP_SUFFIXES:
        try:
            check_archive(path, max_bytes)
        except ArchiveError as exc:
            raise ParseError(str(exc)) from exc
    try:
        title, sections = _parse(path, suffix)
    except ParseError:
        raise
    except OfflineSetupError as exc:
        raise ParseError(f"parser not installed correctly: {exc}") from exc
    except Exception as exc:
        kind = "pdf" if suffix == ".pdf" else suffix.lstrip(".")
        raise ParseError(f"corrupt or unreadable {kind}: {_cause(exc)}") from exc
    if not sections:
        raise ParseError("no text (scanned?)" if suffix == ".pdf" else "no text")
    return ParsedDocument(title=title or readable_stem(path), sections=sections)


def _parse(path: Path, suffix: str) -> tuple[str, list[Section]]:
    if suffix == ".pdf":
        _pages, lines = read_pdf(path)
        items = [_Item(text=line.text, depth=line.depth) for line in lines]
        return _first_h1(items), sections_from(items)
    if suffix == ".xlsx":
        sheets = read_workbook(path)
        sections = [Section(heading_path=[s.name], text=render_rows(s.rows)) for s in sheets if s.rows]
        return "", sections
    prepare_unstructured()
    if suffix == ".pptx":
        from unstructured.partition.pptx import partition_pptx

        return _slides(partition_pptx(filename=str(path), include_page_breaks=False, languages=NO_LANGUAGES))
    if suffix == ".docx":
        from unstructured.partition.docx import partition_docx

        items = _items(partition_docx(filename=str(path), include_page_breaks=False, languages=NO_LANGUAGES))
        return _first_h1(items), sections_from(items)
    text = decode_text(path.read_bytes())
    items = _items(_partition_text(suffix, text))
    return _first_h1(items), sections_from(items)


# unstructured's language detection (langdetect, about half of a small page's parse) is skipped: Lore
# detects each chunk's language itself (knowledge.sparse.detect_lang), and never reads unstructured's.
NO_LANGUAGES = [""]


def _partition_text(suffix: str, text: str) -> list[Element]:
    if not text.strip():
        raise ParseError("no text")
    partition: Callable[..., list[Element]]
    if suffix in (".md", ".markdown"):
        from unstructured.partition.md import partition_md as partition
    elif suffix in (".html", ".htm"):
        from unstructured.partition.html import partition_html as partition
    elif suffix == ".csv":
        from unstructured.partition.csv import partition_csv

        return partition_csv(file=io.BytesIO(text.encode()), encoding="utf-8", languages=NO_LANGUAGES)
    else:
        from unstructured.partition.text import partition_text as partition
    return partition(text=text, languages=NO_LANGUAGES)


def decode_text(data: bytes) -> str:
    """`data` as text (UTF-8, UTF-16 with BOM, else cp1252); `ParseError` if it looks binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:65536]:
        raise ParseError("binary or unreadable content")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    sample = text[:200_000]
    if len(_JUNK.findall(sample)) > MAX_CONTROL_SHARE * max(len(sample), 1):
        raise ParseError("binary or unreadable content")
    return text


def _items(elements: Iterable[Element]) -> list[_Item]:
    items = []
    for element in elements:
        text = _element_text(element)
        if not text:
            continue
        depth = element.metadata.category_depth if element.category == "Title" else None
        items.append(_Item(text=text, depth=depth))
    return items


def _element_text(element: Element) -> str:
    html = element.metadata.text_as_html if element.category == "Table" else None
    if html:
        rendered = render_rows(html_rows(html))
        if rendered.strip():
            return rendered.strip()
    text = str(element.text or "").strip()
    return f"- {text}" if text and element.category == "ListItem" else text


def sections_from(items: list[_Item]) -> list[Section]:
    """Group body items under the heading path their preceding headings build (h1 > h2 > ...)."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        if body:
            sections.append(Section(heading_path=[h for _, h in stack], text="\n\n".join(body)))
            body.clear()

    for item in items:
        if item.depth is None:
            body.append(item.text)
            continue
        flush()
        while stack and stack[-1][0] >= item.depth:
            stack.pop()
        stack.append((item.depth, item.text))
    flush()
    return sections


def _slides(elements: list[Element]) -> tuple[str, list[Section]]:
    """One section per slide, headed by the slide's title (its first top-level `Title`)."""
    slides: dict[int, list[Element]] = {}
    for element in elements:
        slides.setdefault(element.metadata.page_number or 1, []).append(element)
    sections = []
    for number, slide in sorted(slides.items()):
        head = next((e for e in slide if e.category == "Title" and not e.metadata.category_depth), None)
        title = _element_text(head) if head is not None else ""
        texts = [t for e in slide if e is not head and (t := _element_text(e))]
        text = "\n\n".join(texts) or title
        if text:
            sections.append(Section(heading_path=[title or f"Slide {number}"], text=text))
    return (sections[0].heading_path[0] if sections else ""), sections


def _first_h1(items: list[_Item]) -> str:
    return next((item.text for item in items if item.depth == 0), "")


def readable_stem(path: Path) -> str:
    """A file name as a title: `travel_expense-policy.md` -> `Travel expense policy`."""
    words = re.sub(r"[_\-.\s]+", " ", path.stem).strip() or path.name
    return words[0].upper() + words[1:] if words.islower() else words


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f}".removesuffix(".0") + " MB"


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."
