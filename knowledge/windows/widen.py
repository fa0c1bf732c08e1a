"""Hits widened into windows: one filtered neighbour lookup per query, then windows built and joined.

The neighbours come from the index under the asker's access filter, in one call for all hits. A window
never crosses a chunk the asker may not read (or one missing): the passage stops at the gap. Hits whose
windows overlap or touch in one document become one hit, at the better rank, whose window is the union.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.index.base import ChunkRange, Index
from knowledge.models import Chunk, ScoredChunk
from knowledge.windows.grow import Layout, Span, outside
from knowledge.windows.passage import Passage, join

MAX_REACH = 8  # neighbours fetched on each side of a hit, at most

DocKey = tuple[str, str]


def reach(budget: int, chunk_size: int, overlap: int) -> int:
    """Neighbours to fetch on each side of a hit so that a window of `budget` tokens can fill up even
    when it grows to one side only, from chunks of full size (0 when windows are off). One more on each
    side found nothing more on the handbook and cost a third more time (docs/benchmarks.md)."""
    if budget <= 0:
        return 0
    return min(MAX_REACH, math.ceil(budget / max(1, chunk_size - overlap)))


def neighbourhoods(hits: Sequence[ScoredChunk], around: int) -> list[ChunkRange]:
    """The chunks `around` each hit, on both sides: what its window may be grown from."""
    return [
        ChunkRange(
            source_id=h.chunk.source_id,
            doc_id=h.chunk.doc_id,
            first=max(0, h.chunk.chunk_no - around),
            last=h.chunk.chunk_no + around,
        )
        for h in hits
    ]


async def widen(
    index: Index,
    hits: Sequence[ScoredChunk],
    grants: list[str],
    budget: int,
    around: int,
    *,
    k: int | None = None,
    per_doc: int | None = None,
    overlap: int | None = None,
) -> list[ScoredChunk]:
    """The first `k` windows of `hits` (best first), `budget` tokens each, at most `per_doc` of a
    document; `around` neighbours fetched on each side of every hit, in one call; `overlap`: the
    chunker's (`LORE_CHUNK_OVERLAP`). Budget 0: each chunk alone, adjacent hits joined. See `windows`."""
    neighbours: list[Chunk] = []
    if around > 0 and hits:
        neighbours = await index.chunk_ranges(neighbourhoods(hits, around), grants)
    return await asyncio.to_thread(windows, hits, neighbours, budget, k, per_doc, overlap)


@dataclass
class _Window:
    hit: ScoredChunk
    passage: tuple[DocKey, int]  # (document, first chunk number of its passage)
    core: Span  # the text it must show: its chunk (and those joined to it), less what better hits show
    span: Span  # the window


class _Passages:
    """The passages of the chunks at hand: maximal runs of consecutive chunk numbers per document, cut
    where the `cores` (the hits' chunks) start and end."""

    def __init__(self, chunks: Sequence[Chunk], cores: Sequence[Chunk], overlap: int | None) -> None:
        self._cores = {(c.source_id, c.doc_id, c.chunk_no) for c in cores}
        self._overlap = overlap
        self._docs: dict[DocKey, dict[int, Chunk]] = {}
        for chunk in chunks:
            self._docs.setdefault((chunk.source_id, chunk.doc_id), {})[chunk.chunk_no] = chunk
        self._built: dict[tuple[DocKey, int], tuple[Passage, Layout]] = {}

    def of(self, chunk: Chunk) -> tuple[tuple[DocKey, int], Passage, Layout]:
        doc = (chunk.source_id, chunk.doc_id)
        numbers = self._docs[doc]
        first = chunk.chunk_no
        while first - 1 in numbers:
            first -= 1
        key = (doc, first)
        if key not in self._built:
            run = []
            no = first
            while no in numbers:
                run.append(numbers[no])
                no += 1
            passage = join(run, self._overlap)
            spans = passage.spans.items()
            bounds = [offset for no, span in spans if (*doc, no) in self._cores for offset in span]
            self._built[key] = (passage, Layout(passage.text, bounds))
        return key, *self._built[key]


def windows(
    hits: Sequence[ScoredChunk],
    neighbours: Sequence[Chunk],
    budget: int,
    k: int | None = None,
    per_doc: int | None = None,
    overlap: int | None = None,
) -> list[ScoredChunk]:
    """`hits` (best first) with windows of `budget` tokens grown in the passages that `neighbours` and the
    hits' own chunks make. Pure: the tests' entry. In rank order, a hit whose chunk a better hit's window
    already shows is dropped; hits whose chunks touch, or fit one budget together, join into the better
    one (its window grown around both); any other hit grows its own window around what of its chunk is not
    yet shown, never into another window, unless its document has `per_doc` windows already. So no text
    is read twice and no window outgrows its budget (or its joined chunks). Stops at `k` windows."""
    own = [h.chunk for h in hits]
    passages = _Passages([*neighbours, *own], own, overlap)  # a hit's own chunk wins over a fetched copy
    layouts: dict[tuple[DocKey, int], Layout] = {}
    kept: list[_Window] = []
    for hit in hits:
        if k is not None and len(kept) >= k:
            break
        key, passage, layout = passages.of(hit.chunk)
        layouts[key] = layout
        core = layout.span(*passage.spans[hit.chunk.chunk_no])
        mine = [w for w in kept if w.passage == key]
        if any(w.span[0] <= core[0] and core[1] <= w.span[1] for w in mine):
            continue  # already read in a better hit's window
        partner = next((w for w in mine if _joins(layout, w.core, core, budget)), None)
        if partner is not None:
            kept = _join(kept, partner, core, layout, budget)
            continue
        if per_doc is not None and sum(w.passage[0] == key[0] for w in kept) >= per_doc:
            continue
        walls = [w.span for w in mine]
        rest = outside(core, walls)
        if rest is not None:
            kept.append(_Window(hit, key, rest, layout.grow(rest, budget, walls)))
    return [w.hit.model_copy(update={"window": layouts[w.passage].render(*w.span)}) for w in kept]


def _join(kept: list[_Window], target: _Window, core: Span, layout: Layout, budget: int) -> list[_Window]:
    """`kept` with `core` joined to `target`, and then any window of the passage that the join reaches
    (the better-ranked of two takes the other in)."""
    while True:
        target.core = (min(target.core[0], core[0]), max(target.core[1], core[1]))
        mine = [w for w in kept if w.passage == target.passage and w is not target]
        target.span = layout.grow(target.core, budget, [w.span for w in mine])
        other = next((w for w in mine if _joins(layout, w.core, target.core, budget)), None)
        if other is None:
            return kept
        better, worse = (target, other) if kept.index(target) < kept.index(other) else (other, target)
        kept = [w for w in kept if w is not worse]
        target, core = better, worse.core


def _joins(layout: Layout, a: Span, b: Span, budget: int) -> bool:
    """Two hits' chunks join when they touch or overlap, or when both fit in one window."""
    return layout.meet(a, b) or layout.cost(min(a[0], b[0]), max(a[1], b[1])) <= budget
