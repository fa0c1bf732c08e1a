"""The knowledge base as one object: index, embedder, sparse encoder, retriever and answerer, opened from
the settings and closed by its owner. The CLI, the terminal chat and the bot all ask through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType

from knowledge.access import Principal
from knowledge.answering.answerer import Answerer, AnswerEvent
from knowledge.answering.rewrite import standalone_question
from knowledge.embedding.cache import CachedEmbedder
from knowledge.embedding.factory import open_embedder
from knowledge.index.base import Index
from knowledge.index.factory import open_index
from knowledge.models import Answer, ScoredChunk, SearchResult
from knowledge.retrieval import Mode, Retriever
from knowledge.settings import Settings
from knowledge.sparse import SparseEncoder, Tokenizer

History = Sequence[tuple[str, str]]


class Knowledge:
    """Search and answer over the index, always as a principal."""

    def __init__(self, settings: Settings, index: Index, embedder: CachedEmbedder) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.sparse = SparseEncoder(Tokenizer(cjk=settings.cjk_tokenizer))
        self.retriever = Retriever(index, embedder, self.sparse, settings)
        self.answerer = Answerer(settings)

    @classmethod
    async def open(cls, settings: Settings) -> Knowledge:
        """Open the configured index and embedder (creating the index if it is new)."""
        index = open_index(settings)
        await index.ensure()
        return cls(settings, index, open_embedder(settings))

    async def __aenter__(self) -> Knowledge:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def hits(
        self, query: str, principal: Principal, *, k: int | None = None, mode: Mode = "hybrid"
    ) -> list[ScoredChunk]:
        """The chunks that best match `query` among those `principal` may read."""
        return await self.retriever.search(query, principal.sorted(), k=k, mode=mode)

    async def search(self, query: str, principal: Principal, *, k: int | None = None) -> list[SearchResult]:
        """`lore search`: the best chunks as results."""
        return [to_result(hit) for hit in await self.hits(query, principal, k=k)]

    async def standalone(self, question: str, history: History) -> str:
        """A follow-up rewritten into a standalone question from the conversation so far."""
        return await standalone_question(question, history, self.answerer.llm)

    async def ask(self, question: str, principal: Principal, history: History = ()) -> Answer:
        """`lore ask`: a cited answer from what `principal` may read (follow-ups made standalone first)."""
        query = await self.standalone(question, history)
        return await self.answerer.answer(query, await self.hits(query, principal), history=history)

    async def ask_stream(
        self, question: str, principal: Principal, history: History = ()
    ) -> AsyncIterator[AnswerEvent]:
        """The answer as it is written, then the final cited answer."""
        query = await self.standalone(question, history)
        hits = await self.hits(query, principal)
        async for event in self.answerer.stream(query, hits, history=history):
            yield event

    async def close(self) -> None:
        """Close the answerer, embedder and index."""
        await self.answerer.close()
        await self.embedder.close()
        await self.index.close()


def to_result(hit: ScoredChunk) -> SearchResult:
    """A hit in the shape of `lore search --json`."""
    c = hit.chunk
    return SearchResult(
        doc_id=c.doc_id,
        chunk_id=c.id,
        source=c.source_id,
        title=c.title,
        url=c.url,
        text=c.text,
        score=round(hit.score, 6),
    )
