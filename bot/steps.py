"""The steps of an answer, shown while it is prepared: Slack's `task_update` stream chunks (a timeline).

"Searching what everyone here may read…", then what the search found (its documents as sources), with an
LLM whether it looked something up next (a second search), then "Writing the answer". Only what the answer
may draw on is named: the hits are already filtered for the audience of the reply, so a step never names a
document or source its readers may not read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from bot.mrkdwn import clip, safe_url
from knowledge.models import ScoredChunk

SEARCH = "search"
LOOKUP = "lookup"
WRITE = "write"
MAX_SOURCES = 5  # documents shown under the search step
TITLE_CHARS = 100

Status = Literal["pending", "in_progress", "complete", "error"]


class StepSource(BaseModel):
    """A document a step found, as a link."""

    url: str
    title: str


class Step(BaseModel):
    """One step of the work, as Slack's `task_update` chunk describes it."""

    id: str
    title: str
    status: Status
    details: str | None = None
    sources: list[StepSource] = []

    def chunk(self) -> dict[str, Any]:
        """The `task_update` chunk of `chat.startStream`/`chat.appendStream`."""
        out: dict[str, Any] = {
            "type": "task_update",
            "id": self.id,
            "title": self.title,
            "status": self.status,
        }
        if self.details:
            out["details"] = self.details
        if self.sources:
            out["sources"] = [{"type": "url", "url": s.url, "text": s.title} for s in self.sources]
        return out


def searching(private: bool) -> Step:
    """The search, started."""
    whose = "what you may read" if private else "what everyone in this channel may read"
    return Step(id=SEARCH, title=f"Searching {whose}…", status="in_progress")


def searched(hits: list[ScoredChunk], skipped: list[str]) -> Step:
    """The search, done: how much it found, its first documents (as links where they have a web address)
    and their sources, and which remote sources did not answer in time."""
    documents = _documents(hits)
    title = f"Found {_count(len(hits), 'passage')} in {_count(len(documents), 'document')}" if hits else ""
    shown = documents[:MAX_SOURCES]
    notes = []
    if shown:
        more = f" and {len(documents) - len(shown)} more" if len(documents) > len(shown) else ""
        sources = ", ".join(dict.fromkeys(h.chunk.source_id for h in hits))
        notes.append(f"{_names(shown)}{more} (from {sources})")
    if skipped:
        notes.append(f"not searched this time: {', '.join(skipped)} (no answer in time)")
    return Step(
        id=SEARCH,
        title=title or "Found nothing on this",
        status="complete",
        details=" · ".join(notes) or None,
        sources=_links(shown),
    )


def looking_further() -> Step:
    """The LLM reading what the search found, to decide whether to look something up next."""
    return Step(id=LOOKUP, title="Checking whether anything must be looked up next…", status="in_progress")


def looked_further(queries: list[str], added: list[ScoredChunk]) -> Step:
    """The second search, done: what it looked up and the documents it added (no queries: nothing needed).
    The queries come from the hits, which the reply's readers may all read."""
    if not queries:
        return Step(id=LOOKUP, title="Nothing more to look up", status="complete")
    shown = _documents(added)[:MAX_SOURCES]
    return Step(
        id=LOOKUP,
        title=clip("Looked up " + "; ".join(queries), TITLE_CHARS),
        status="complete",
        details=f"Added {_names(shown)}" if shown else "Nothing new found",
        sources=_links(shown),
    )


def _documents(hits: list[ScoredChunk]) -> list[ScoredChunk]:
    """The first hit of each document, in rank order."""
    firsts: dict[tuple[str, str], ScoredChunk] = {}
    for hit in hits:
        firsts.setdefault((hit.chunk.source_id, hit.chunk.doc_id), hit)
    return list(firsts.values())


def _names(shown: list[ScoredChunk]) -> str:
    return "; ".join(clip(h.chunk.title or h.chunk.doc_id, TITLE_CHARS) for h in shown)


def _links(shown: list[ScoredChunk]) -> list[StepSource]:
    """The documents as links, where they have a web address."""
    return [
        StepSource(url=h.chunk.url, title=clip(h.chunk.title or h.chunk.doc_id, TITLE_CHARS))
        for h in shown
        if safe_url(h.chunk.url)
    ]


def writing(generative: bool) -> Step:
    """The answer, being written."""
    title = "Writing the answer" if generative else "Picking the sentences that answer"
    return Step(id=WRITE, title=title, status="in_progress")


def written(no_answer: bool) -> Step:
    """The answer, done."""
    title = "The sources don't answer this" if no_answer else "Answer ready"
    return Step(id=WRITE, title=title, status="complete")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"
