"""Pack retrieved hits (their windows) into numbered sources that fit the prompt's token budget."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from knowledge.models import ScoredChunk
from knowledge.tokens import count_tokens, truncate_tokens

MIN_TRUNCATED_TOKENS = 40  # a source cut shorter than this tells the model nothing: leave it out
HEADING_SEPARATOR = " > "


class Source(BaseModel):
    """One numbered source of a prompt: `[n]` in the answer refers to it."""

    n: int = Field(ge=1, description="The number the prompt gives this source.")
    hit: ScoredChunk
    text: str = Field(description="The hit's text (its window) as packed, possibly truncated.")
    truncated: bool = False

    @property
    def heading(self) -> str:
        """Heading path without the title, joined with ' > '."""
        chunk = self.hit.chunk
        return HEADING_SEPARATOR.join(h for h in chunk.heading_path if h and h != chunk.title)

    def render(self) -> str:
        """The source as the prompt shows it."""
        return render_source(self.n, self.hit, self.text)


class PackedContext(BaseModel):
    """The numbered sources of one prompt, best first, and the tokens they take."""

    sources: list[Source]
    tokens: int = Field(description="Tokens of `render()`.")
    budget: int

    def render(self) -> str:
        """All sources, separated by blank lines."""
        return "\n\n".join(source.render() for source in self.sources)

    def numbers(self) -> set[int]:
        """The source numbers a citation may name."""
        return {source.n for source in self.sources}

    def get(self, n: int) -> Source | None:
        """The source numbered `n`, if any."""
        return next((source for source in self.sources if source.n == n), None)


def _header(n: int, hit: ScoredChunk) -> str:
    chunk = hit.chunk
    heading = HEADING_SEPARATOR.join(h for h in chunk.heading_path if h and h != chunk.title)
    title = f"{chunk.title}{HEADING_SEPARATOR}{heading}" if heading else chunk.title
    return f"[{n}] {title}".rstrip() + f" (updated {chunk.updated_at.date().isoformat()})"


def render_source(n: int, hit: ScoredChunk, text: str) -> str:
    """`[n] Title > Heading > Sub (updated YYYY-MM-DD)` on one line, then the text: the date lets the
    model prefer the newer of two sources that disagree, and say how current an answer is."""
    return f"{_header(n, hit)}\n{text.strip()}"


def _join(rendered: str, block: str) -> str:
    return f"{rendered}\n\n{block}" if rendered else block


def _fit(rendered: str, n: int, hit: ScoredChunk, budget: int) -> str | None:
    """The hit's text cut so that source `n` still fits after `rendered`; None if too little would remain."""
    full = hit.text.strip()
    room = budget - count_tokens(_join(rendered, render_source(n, hit, ""))) - 1  # 1 for the ellipsis
    while room >= MIN_TRUNCATED_TOKENS:
        text = truncate_tokens(full, room).rstrip() + "…"
        over = count_tokens(_join(rendered, render_source(n, hit, text))) - budget
        if over <= 0:
            return text
        room -= over  # tokens merge differently at the cut: shrink by the overshoot and try again
    return None


def pack(hits: Sequence[ScoredChunk], budget: int) -> PackedContext:
    """Number `hits` [1]..[n] in order until `budget` tokens are used; the last one is truncated to fit."""
    sources: list[Source] = []
    rendered = ""
    for hit in hits:
        n = len(sources) + 1
        text = hit.text.strip()
        candidate = _join(rendered, render_source(n, hit, text))
        if count_tokens(candidate) <= budget:
            sources.append(Source(n=n, hit=hit, text=text))
            rendered = candidate
            continue
        cut = _fit(rendered, n, hit, budget)
        if cut is not None:
            sources.append(Source(n=n, hit=hit, text=cut, truncated=True))
            rendered = _join(rendered, render_source(n, hit, cut))
        break
    return PackedContext(sources=sources, tokens=count_tokens(rendered) if rendered else 0, budget=budget)
