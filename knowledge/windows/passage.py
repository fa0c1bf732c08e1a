"""A document's consecutive chunks as one text in reading order.

The chunker repeats the end of a piece at the start of the next piece of a section (`LORE_CHUNK_OVERLAP`);
joining drops that repeat. A chunk that starts another section gets its new headings as lines in front, as
the chunker writes the headings of merged sections, so a reader sees where one section ends. Each chunk's
place in the joined text is kept: it is the core a hit's window grows from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.models import Chunk
from knowledge.tokens import encoding

# Characters: the chunker's overlap ends at a segment boundary, so a run this short that ends one chunk and
# starts the next is the overlap (a few tokens of LORE_CHUNK_OVERLAP), not chance.
MIN_OVERLAP = 4
LONGEST_OVERLAP = 4000  # characters of the text so far searched for the overlap
SECTION_BREAK = "\n\n"

# A row of a table or list: a pipe table row, a list item, or a rendered row ("team: Finance; phone: 4"),
# whose column name ends right at its colon (not "11 : 00")
ROW = re.compile(r"^[ \t]*(?:(\|)|([-*+•]|\d{1,3}[.)])[ \t]|([^\s:;|](?:[^:;\n]{0,58}[^\s:;|])?):[ \t])")
_NEXT_COLUMN = re.compile(r";[ \t][^:;\n]{1,60}:[ \t]")


@dataclass(frozen=True)
class Passage:
    """Joined text of consecutive chunks; `spans[chunk_no]` is where that chunk's own text lies in it."""

    text: str
    spans: dict[int, tuple[int, int]]


def row_kind(line: str) -> str | None:
    """What kind of table or list row `line` is (`pipe`, `item`, `label:<name>`), or None for prose."""
    match = ROW.match(line)
    return None if match is None else kind_of(match)


def kind_of(row: re.Match[str]) -> str:
    """The kind of row a match of `ROW` found."""
    if row.group(1):
        return "pipe"
    if row.group(2):
        return "item"
    return f"label:{row.group(3).strip().lower()}"


def overlap(text: str, following: str, most_tokens: int | None = None) -> int:
    """Length of the longest end of `text` that `following` starts with (0 below MIN_OVERLAP), within the
    last `most_tokens` tokens of `text` when given: the chunker repeats no more than that
    (`LORE_CHUNK_OVERLAP`), and in repetitive text (the same sentence again and again) a longer match is a
    coincidence that would drop text."""
    tail = text[-LONGEST_OVERLAP:]
    probe = following[:MIN_OVERLAP]
    if len(probe) < MIN_OVERLAP:
        return 0
    matches = []
    pos = tail.find(probe)
    while pos >= 0:
        if following.startswith(tail[pos:]):
            matches.append(len(tail) - pos)  # longest first
        pos = tail.find(probe, pos + 1)
    if len(matches) > 1 and most_tokens is not None:  # repetitive text: only then count tokens
        most = _last_tokens(text, most_tokens)
        matches = [n for n in matches if n <= most] or matches[-1:]
    return matches[0] if matches else 0


def _last_tokens(text: str, tokens: int) -> int:
    """Characters of the last `tokens` tokens of `text`."""
    enc = encoding()
    ids = enc.encode(text[-(tokens * 8 + 64) :], disallowed_special=())
    return len(enc.decode(ids[-tokens:])) if tokens else 0


def _starts_a_line(text: str, rest: str) -> bool:
    """`rest` began a line where the chunker cut (and lost the line break): it opens a pipe-table row or a
    list item, goes on with rows like the one `text` ends with, or `text` ends with a table row or list
    item (rows end their lines; a window must tell where a table ends)."""
    ends, starts = _last_line(text), rest.lstrip()
    kind = row_kind(ends)
    table_row = kind == "pipe" or (kind is not None and _NEXT_COLUMN.search(ends) is not None)
    return table_row or kind == "item" or row_kind(starts) in ("pipe", "item", *([kind] if kind else []))


def _last_line(text: str) -> str:
    return text[text.rfind("\n") + 1 :]


def _new_headings(before: list[str], after: list[str]) -> list[str]:
    shared = 0
    while shared < min(len(before), len(after)) and before[shared] == after[shared]:
        shared += 1
    return [h for h in after[shared:] if h]


def join(chunks: Sequence[Chunk], overlap_tokens: int | None = None) -> Passage:
    """`chunks`, consecutive chunks of one document in order, as one text without repeated overlap (of at
    most `overlap_tokens`, the chunker's `LORE_CHUNK_OVERLAP`, when given)."""
    text = ""
    spans: dict[int, tuple[int, int]] = {}
    previous: Chunk | None = None
    for chunk in chunks:
        own = chunk.text.strip()
        same_section = previous is not None and previous.heading_path == chunk.heading_path
        shared = overlap(text, own, overlap_tokens) if same_section else 0
        if previous is None:
            start, text = 0, own
        elif shared:
            start = len(text) - shared
            rest = own[shared:]
            if rest[:1].isspace() and _starts_a_line(text, rest):
                rest = "\n" + rest.lstrip()
            text += rest
        else:
            headings = _new_headings(previous.heading_path, chunk.heading_path)
            same_rows = row_kind(own) is not None and row_kind(own) == row_kind(_last_line(text))
            separator = "\n" if not headings and same_rows else SECTION_BREAK  # a table goes on
            text += separator + "".join(h + SECTION_BREAK for h in headings)
            start = len(text)
            text += own
        spans[chunk.chunk_no] = (start, len(text))
        previous = chunk
    return Passage(text=text, spans=spans)
