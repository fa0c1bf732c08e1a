"""The steps of an answer, shown while it is prepared: Slack's `task_update` stream chunks (a timeline).

"Searching what everyone here may read…", then what the search found (its documents as sources), then
"Writing the answer". Only what the answer may draw on is named: the hits are already filtered for the
audience of the reply, so a step never names a document or source its readers may not read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from bot.mrkdwn import clip, safe_url
from knowledge.models import ScoredChunk

SEARCH = "search"
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
    firsts: dict[tuple[str, str], ScoredChunk] = {}
    for hit in hits:
        firsts.setdefault((hit.chunk.source_id, hit.chunk.doc_id), hit)
    title = f"Found {_count(len(hits), 'passage')} in {_count(len(firsts), 'document')}" if hits else ""
    shown = list(firsts.values())[:MAX_SOURCES]
    notes = []
    if shown:
        names = "; ".join(clip(h.chunk.title or h.chunk.doc_id, TITLE_CHARS) for h in shown)
        more = f" and {len(firsts) - len(shown)} more" if len(firsts) > len(shown) else ""
        sources = ", ".join(dict.fromkeys(h.chunk.source_id for h in hits))
        notes.append(f"{names}{more} (from {sources})")
    if skipped:
        notes.append(f"not searched this time: {', '.join(skipped)} (no answer in time)")
    links = [
        StepSource(url=h.chunk.url, title=clip(h.chunk.title or h.chunk.doc_id, TITLE_CHARS))
        for h in shown
        if safe_url(h.chunk.url)
    ]
    return Step(
        id=SEARCH,
        title=title or "Found nothing on this",
        status="complete",
        details=" · ".join(notes) or None,
        sources=links,
    )


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
