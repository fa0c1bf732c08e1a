"""From ranked units to the answer's text: the best passages, each a unit with its neighbours, cited.

A passage is the unit that answers plus the units next to it under the same heading (the sentence after
it, the next table row) while they fit in `PASSAGE_CHARS`: evidence often spans two sentences, and a
follow-up about "the one below it" is answered by the next row. A table's header row or a list's lead-in
is written once, before the rows or items that need it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.answering.quoting.relevance import Scored
from knowledge.answering.quoting.units import Unit

MAX_PASSAGES = 3
KEEP_MARGIN = 0.06  # a further passage scores within this of the best one
PASSAGE_CHARS = 360  # a passage grows by neighbours up to this size
NEAR_DUPLICATE = 0.7  # word overlap (Jaccard) above which a unit repeats one already quoted
MAX_COLUMN_NAME = 40
_BACK_TEXT = "they them their it its this that these those he she his her such both either also then"
BACK_REFERENCES = frozenset(_BACK_TEXT.split())
BACK_REFERENCES_CJK = ("它", "他", "她", "这", "该", "此", "其")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")


@dataclass(frozen=True)
class Passage:
    """Consecutive units of one hit, in reading order."""

    units: tuple[Unit, ...]

    @property
    def rank(self) -> int:
        """The hit the passage quotes."""
        return self.units[0].rank

    def render(self) -> str:
        """The passage's text: a lead (header row, lead-in) once, before the units that share it; rows
        written as `column: value; …` (Lore's parser's form) as a table under one header row."""
        lines: list[str] = []
        lead = ""
        for unit in self.units:
            cells = labelled_cells(unit.core) if unit.kind == "row" else None
            if cells is not None:
                header = "| " + " | ".join(name for name, _ in cells) + " |"
                if header != lead:
                    lines.append(header)
                lead = header
                lines.append("| " + " | ".join(value for _, value in cells) + " |")
                continue
            if unit.lead and unit.lead != lead:
                lines.append(unit.lead)
            lead = unit.lead
            lines.append(unit.core)
        tabular = any(unit.kind != "sentence" for unit in self.units)
        return ("\n" if tabular else " ").join(lines)


def labelled_cells(row: str) -> list[tuple[str, str]] | None:
    """The (column, value) pairs of a `column: value; column: value` row, or None if it is not one."""
    cells = []
    for part in row.split("; "):
        name, sep, value = part.partition(": ")
        if not sep or not name or len(name) > MAX_COLUMN_NAME or ":" in name or "|" in part:
            return None
        cells.append((name.strip(), value.strip()))
    return cells if len(cells) >= 2 else None


def _words(unit: Unit) -> frozenset[str]:
    return frozenset(unit.core.lower().split())


def _repeats(unit: Unit, quoted: Sequence[Unit]) -> bool:
    mine = _words(unit)
    for other in quoted:
        theirs = _words(other)
        if len(mine & theirs) > NEAR_DUPLICATE * len(mine | theirs):
            return True
    return False


def width(text: str) -> int:
    """Characters of `text`, a CJK character counting as three (it carries about a word)."""
    return len(text) + 2 * len(_CJK.findall(text))


def refers_back(unit: Unit) -> bool:
    """True when `unit` opens with a word that points at the sentence before it ("They", "This", "它")."""
    first = unit.core.split(maxsplit=1)[0].lower().strip(",.:;") if unit.core.split() else ""
    return first in BACK_REFERENCES or unit.core.startswith(BACK_REFERENCES_CJK)


def expand(unit: Unit, units: Sequence[Unit]) -> Passage:
    """`unit` with the units after it of the same hit and heading, up to PASSAGE_CHARS, and the one
    before it when it refers back to it."""
    same = {u.position: u for u in units if u.rank == unit.rank and u.heading == unit.heading}
    first = last = unit.position
    size = width(unit.text)
    if refers_back(unit) and (before := same.get(first - 1)) is not None:
        first -= 1
        size += width(before.core) + 1
    while (nxt := same.get(last + 1)) is not None and size + width(nxt.core) + 1 <= PASSAGE_CHARS:
        size += width(nxt.core) + 1
        last += 1
    while (prev := same.get(first - 1)) is not None and size + width(prev.core) + 1 <= PASSAGE_CHARS:
        size += width(prev.core) + 1
        first -= 1
    return Passage(tuple(same[p] for p in range(first, last + 1)))


def passages(ranked: Sequence[Scored], units: Sequence[Unit]) -> list[Passage]:
    """Up to MAX_PASSAGES passages around the best units (close to the best score, not repeating one
    another), in the order of their hits, then of the text."""
    if not ranked:
        return []
    best = ranked[0].score
    picked: list[Passage] = []
    quoted: list[Unit] = []
    for scored in ranked:
        if len(picked) == MAX_PASSAGES or scored.score < best - KEEP_MARGIN:
            break
        if not scored.answers or scored.unit in quoted or _repeats(scored.unit, quoted):
            continue
        passage = expand(scored.unit, units)
        fresh = tuple(u for u in passage.units if u not in quoted)
        picked.append(Passage(fresh))
        quoted.extend(fresh)
    return sorted(picked, key=lambda p: (p.rank, p.units[0].position))
