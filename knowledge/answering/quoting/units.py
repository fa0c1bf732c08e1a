"""What an extractive answer may quote of a hit: its sentences, list items and table rows, never a heading
and never a piece that a chunk boundary cut off.

A pipe-table row comes with the table's header row (a row alone means nothing); a list item comes with its
lead-in when the lead-in ends with a colon (the item finishes its sentence). Lore's parser writes other
tables as `column: value; column: value` lines, which carry their header already.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from knowledge.answering.sentences import split_sentences
from knowledge.models import ScoredChunk

UnitKind = Literal["sentence", "item", "row"]

MAX_UNIT_CHARS = 600  # a longer unit is cut at a clause end, marked with an ellipsis
HEADING_WORDS = 8  # a short line without end punctuation, standing alone, is a heading
MIN_WORDS = 3  # fewer words (or CJK characters / 2) carry too little to quote alone

_MD_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_PIPE_ROW = re.compile(r"^\|.*\|$")
_PIPE_RULE = re.compile(r"^\|?[\s:|-]*-{2,}[\s:|-]*\|?$")
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+")
_LABEL = re.compile(r"^[^\s:;|][^:;\n]{0,59}:\s")  # "column: value" (a rendered table row, a term list)
_END = re.compile(r"[.!?。！？…)\]\"'”’»」』）]$")
_CONTINUES = re.compile(r"^[a-z,;:)\]}.…]")  # a line that starts inside a sentence
_WORD = re.compile(r"[^\W_]+")
# Front matter left in the text (`title: "…"`, `title: X description: "…"`) and HTML attributes are markup
_METADATA = re.compile(r'^[a-z_]+:\s*["\[{]|^[a-z_]+:\s.*\s[a-z_]+:\s*"')
_ATTRIBUTE = re.compile(r'\b[\w-]+="[^"]*"')
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")  # template markup (Hugo shortcodes, Jinja) is not text
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")
_DANGLING_TEXT = """
    a an the and or but nor of to for with in on at by from as that which who whose than into onto per via
    e.g i.e etc
"""
DANGLING = frozenset(_DANGLING_TEXT.split())


@dataclass(frozen=True)
class Unit:
    """One quotable piece of a hit: `lead` (a table header or list lead-in, may be empty) then `core`."""

    rank: int
    position: int
    core: str
    lead: str = ""
    heading: str = ""
    kind: UnitKind = "sentence"
    in_chunk: bool = True  # inside the chunk retrieval matched, not only in the window around it

    @property
    def text(self) -> str:
        """The quote: the lead on its own line (a pipe-table header), or before the item it introduces."""
        if not self.lead:
            return self.core
        joiner = "\n" if self.kind == "row" else " "
        return f"{self.lead}{joiner}{self.core}"


def words(text: str) -> int:
    """Words of `text`, a CJK character counting as half a word."""
    cjk = len(_CJK.findall(text))
    return len(_WORD.findall(_CJK.sub(" ", text))) + cjk // 2


def complete(text: str) -> bool:
    """False for a piece that ends in the middle of a sentence (a lead-in colon, a comma, "the" …)."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in ":,;(-–—/&+":
        return False
    last = _WORD.findall(stripped.lower())
    return not last or last[-1] not in DANGLING or bool(_END.search(stripped))


def is_heading(line: str, following: str | None) -> bool:
    """A short line with no end punctuation and no `label: value`, followed by a break or nothing."""
    if _END.search(line) or line.endswith((":", ";", ",")) or _LABEL.match(line):
        return False
    return words(line) <= HEADING_WORDS and not (following or "").strip()


def shorten(text: str, limit: int = MAX_UNIT_CHARS) -> str:
    """`text` cut after the last clause that fits in `limit` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind(mark) for mark in (". ", "; ", "。", "；", ", "))
    if cut < limit // 3:
        cut = head.rfind(" ")
    return head[: cut + 1].rstrip(" ,;") + "…"


class _Reader:
    """Walks the lines of one hit's text, keeping the heading, table header and lead-in in force."""

    def __init__(self, rank: int, hit: ScoredChunk, heading: str) -> None:
        self.rank = rank
        self.chunk_text = hit.chunk.text
        self.heading = heading
        self.header = ""
        self.lead = ""
        self.units: list[Unit] = []

    def add(self, core: str, kind: UnitKind, lead: str = "") -> None:
        core = _ATTRIBUTE.sub(" ", core).strip()
        core = shorten(core if kind == "row" else core.strip(" |!"))
        if words(core) >= MIN_WORDS or (lead and words(core) >= 1):
            inside = core in self.chunk_text
            self.units.append(Unit(self.rank, len(self.units), core, lead, self.heading, kind, inside))

    def line(self, line: str, following: str | None, first: bool) -> None:
        if _PIPE_RULE.match(line):
            return
        if _PIPE_ROW.match(line):
            if not self.header and following is not None and _PIPE_RULE.match(following.strip()):
                self.header = line
            else:
                self.add(line, "row", self.header)
            return
        self.header = ""
        if heading := _MD_HEADING.match(line):
            self.heading, self.lead = heading.group(1).strip(), ""
            return
        if bullet := _BULLET.match(line):
            self.add(line[bullet.end() :], "item", self.lead)
            return
        if _METADATA.match(line):
            return
        if is_heading(line, following):
            self.heading, self.lead = line, ""
            return
        sentences = split_sentences(line)
        if first and sentences and _CONTINUES.match(sentences[0]):
            sentences = sentences[1:]  # the hit starts inside a sentence: that piece is not quotable
        self.lead = sentences[-1] if sentences and sentences[-1].endswith((":", "：")) else ""
        for sentence in sentences:
            if complete(sentence):
                self.add(sentence, "row" if _LABEL.match(sentence) and ";" in sentence else "sentence")


def hit_units(rank: int, hit: ScoredChunk) -> list[Unit]:
    """The quotable units of one hit's text (its window when it has one), in reading order."""
    heading_path = [h for h in hit.chunk.heading_path if h and h != hit.chunk.title]
    reader = _Reader(rank, hit, heading_path[-1] if heading_path else hit.chunk.title)
    lines = [_TEMPLATE.sub(" ", line).strip() for line in hit.text.splitlines()]
    for i, line in enumerate(lines):
        if not line:
            if reader.lead and i + 1 < len(lines) and not _BULLET.match(lines[i + 1]):
                reader.lead = ""
            continue
        following = lines[i + 1] if i + 1 < len(lines) else None
        reader.line(line, following, first=i == 0 and hit.chunk.chunk_no > 0)
    return reader.units


def quotable(hits: Sequence[ScoredChunk], sources: int) -> list[Unit]:
    """The units of the first `sources` hits, best hit first."""
    return [unit for rank, hit in enumerate(hits[:sources]) for unit in hit_units(rank, hit)]
