"""A hit's window in a passage: its chunk, grown by whole lines and sentences until the token budget is
used, in reading order: first into what follows it (the next row, item, step or paragraph continues a
match; measured better than growing both ways in turn, docs/benchmarks.md), then into what precedes it
when the budget is not yet used. A table or list it reaches is taken whole when that fits.

The passage is cut at line starts, sentence starts and chunk boundaries; the window is a run of those
segments. Segment tokens are counted once each (lazily) and summed: cut at whitespace, the sum does not
fall below the count of the joined text, so a window never exceeds its budget.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

from knowledge.tokens import count_tokens
from knowledge.windows.blocks import Block, find_blocks

Span = tuple[int, int]  # a window or a core: its first and last cut point (indexes into Layout.points)
# the lookahead lets the engine skip to the punctuation (three times faster than the bare alternation)
_SENTENCE_END = re.compile(r"(?=[.!?;。！？；])(?:[.!?;]+[\"'”’)\]]*[ \t]+|[。！？；]+[”’」』）]*)")


class Layout:
    """A passage's text cut into the segments a window grows by."""

    def __init__(self, text: str, boundaries: Iterable[int] = ()) -> None:
        """`boundaries`: offsets that must be cut points too (where chunks start and end)."""
        self.text = text
        self.blocks = find_blocks(text)
        self._starts = [block.start for block in self.blocks]
        points = {0, len(text), *boundaries}
        points.update(m.end() for m in re.finditer("\n", text))
        sentences = (m.end() for m in _SENTENCE_END.finditer(text))
        if self.blocks:
            sentences = (p for p in sentences if self._inside(p) is None)  # a row is read whole
        points.update(sentences)
        self.points = sorted(p for p in points if 0 <= p <= len(text))
        self._tokens: dict[int, int] = {}
        self._last_sum = (0, 0, 0)  # (first, last, tokens): a window grows by one step at a time
        self._header_tokens: dict[str, int] = {}

    def span(self, start: int, end: int) -> Span:
        """The cut points at offsets `start` and `end` (which must be cut points)."""
        return bisect_left(self.points, start), bisect_left(self.points, end)

    def tokens(self, first: int, last: int) -> int:
        """Tokens of segments `first`..`last - 1` (the text between cut points `first` and `last`)."""
        was_first, was_last, was = self._last_sum
        if first == was_first and last >= was_last:
            total = was + self._sum(was_last, last)
        elif last == was_last and first <= was_first:
            total = was + self._sum(first, was_first)
        else:
            total = self._sum(first, last)
        self._last_sum = (first, last, total)
        return total

    def _sum(self, first: int, last: int) -> int:
        total = 0
        for i in range(first, last):
            if i not in self._tokens:
                self._tokens[i] = count_tokens(self.text[self.points[i] : self.points[i + 1]])
            total += self._tokens[i]
        return total

    def header(self, first: int) -> str:
        """What a window starting at cut point `first` needs in front: the header of a pipe table it
        starts inside of, below the header."""
        block = self._block_at(self.points[first])
        if block is None or self.points[first] < block.start + len(block.header):
            return ""
        return block.header

    def cost(self, first: int, last: int) -> int:
        """Tokens of the window between cut points `first` and `last`, with its header."""
        head = self.header(first)
        if head and head not in self._header_tokens:
            self._header_tokens[head] = count_tokens(head)
        return self.tokens(first, last) + self._header_tokens.get(head, 0)

    def render(self, first: int, last: int) -> str:
        """The window's text."""
        body = self.text[self.points[first] : self.points[last]].strip()
        head = self.header(first).strip()
        return f"{head}\n{body}" if head else body

    def meet(self, a: Span, b: Span) -> bool:
        """Spans `a` and `b` (cut points) overlap, or only whitespace lies between them."""
        (_, a_last), (b_first, _) = sorted([a, b])
        return b_first <= a_last or not self.text[self.points[a_last] : self.points[b_first]].strip()

    def _block_at(self, offset: int) -> Block | None:
        """The block holding `offset` (its start included, its end not)."""
        i = bisect_right(self._starts, offset) - 1
        return self.blocks[i] if i >= 0 and offset < self.blocks[i].end else None

    def _inside(self, offset: int) -> Block | None:
        """The block `offset` lies strictly inside of."""
        block = self._block_at(offset)
        return block if block is not None and block.start < offset else None

    def _steps_after(self, last: int) -> list[int]:
        """Where the window's end may move next, preferred first: a block's end, then one segment."""
        if last + 1 >= len(self.points):
            return []
        block = self._inside(self.points[last + 1])
        whole = [bisect_right(self.points, block.end) - 1] if block else []
        return [p for p in whole if p > last + 1] + [last + 1]

    def _steps_before(self, first: int) -> list[int]:
        if first == 0:
            return []
        block = self._inside(self.points[first - 1])
        whole = [bisect_left(self.points, block.start)] if block else []
        return [p for p in whole if p < first - 1] + [first - 1]

    def grow(self, core: Span, budget: int, walls: Sequence[Span] = ()) -> Span:
        """The window (cut points) around `core` within `budget` tokens: grown after it first, then before
        it; never into a `wall` (text another window shows), never less than `core`."""
        first, last = self._whole_blocks(core, budget, walls)
        for side in ("after", "before"):
            moved = True
            while moved:
                moved = False
                steps = self._steps_after(last) if side == "after" else self._steps_before(first)
                for step in steps:
                    span = (first, step) if side == "after" else (step, last)
                    if not _hits_wall(span, walls) and self.cost(*span) <= budget:
                        first, last = self._whole_blocks(span, budget, walls)
                        moved = True
                        break
        return first, last

    def _whole_blocks(self, span: Span, budget: int, walls: Sequence[Span]) -> Span:
        """`span` widened to the whole of a table or list it ends inside of, where that fits."""
        first, last = span
        block = self._inside(self.points[first])
        if block is not None:
            wider = (bisect_left(self.points, block.start), last)
            if not _hits_wall(wider, walls) and self.cost(*wider) <= budget:
                first = wider[0]
        block = self._inside(self.points[last])
        if block is not None:
            wider = (first, bisect_right(self.points, block.end) - 1)
            if not _hits_wall(wider, walls) and self.cost(*wider) <= budget:
                last = wider[1]
        return first, last


def _hits_wall(span: Span, walls: Sequence[Span]) -> bool:
    return any(first < span[1] and span[0] < last for first, last in walls)


def outside(core: Span, walls: Sequence[Span]) -> Span | None:
    """The largest part of `core` that no wall covers (None when they cover it all)."""
    parts = [core]
    for w_first, w_last in walls:
        parts = [
            piece
            for first, last in parts
            for piece in ((first, min(last, w_first)), (max(first, w_last), last))
            if piece[0] < piece[1]
        ]
    return max(parts, key=lambda part: part[1] - part[0], default=None)
