"""The knowledge base as one object: index, embedder, sparse encoder, retriever and answerer, opened from
the settings and closed by its owner. The CLI, the terminal chat and the bot all ask through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType

from pydantic import BaseModel, Field

from knowledge.access import Principal
from knowledge.answering.answerer import Answerer, AnswerEvent, Final
from knowledge.answering.lookups import LOOKUP_HITS, plan_lookups
from knowledge.answering.rewrite import Standalone, standalone_question
from knowledge.embedding.cache import CachedEmbedder
from knowledge.embedding.factory import open_embedder
from knowledge.federation import Federation
from knowledge.index.base import Index
from knowledge.index.factory import open_index
from knowledge.kv.redis import RedisStore
from knowledge.models import Answer, ScoredChunk, SearchResult
from knowledge.retrieval import Mode, Retriever, diversify, weighted_rrf
from knowledge.settings import Settings
from knowledge.sources import open_registry
from knowledge.sparse import SparseEncoder, Tokenizer

History = Sequence[tuple[str, str]]


class Retrieved(BaseModel):
    """The hits for a question, and the federated sources skipped because they did not answer in time."""

    hits: list[ScoredChunk]
    skipped: list[str] = Field(default_factory=list)


class Lookup(BaseModel):
    """The hits an answer draws on after the second search the LLM planned (`look_further`)."""

    hits: list[ScoredChunk]
    queries: list[str] = Field(default_factory=list, description="What was searched again; none: no search.")
    added: list[ScoredChunk] = Field(default_factory=list, description="Hits the second search added.")


def keyword_encoder(settings: Settings) -> SparseEncoder:
    """The encoder of keyword (sparse) vectors as the settings say (tokenizer, BM25, fields, pairs): the
    sync encodes chunks with it and `Knowledge` questions, so the two always agree."""
    s = settings
    return SparseEncoder(
        Tokenizer(cjk=s.cjk_tokenizer),
        k1=s.bm25_k1,
        b=s.bm25_b,
        heading_weight=s.heading_weight,
        pair_weight=s.pair_weight,
    )


class Knowledge:
    """Search and answer over the index, always as a principal."""

    def __init__(
        self,
        settings: Settings,
        index: Index,
        embedder: CachedEmbedder,
        federation: Federation | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`federation` asks other Lore deployments (lore-remote sources) at question time."""
        self.settings = settings
        self.federation = federation
        self._on_close = on_close
        self.index = index
        self.embedder = embedder
        self.sparse = keyword_encoder(
            settings
        )  # the sync's encoder too: a question's pairs match the chunks'
        self.retriever = Retriever(index, embedder, self.sparse, settings)
        self.answerer = Answerer(settings, embedder=embedder)

    @classmethod
    async def open(cls, settings: Settings) -> Knowledge:
        """Open the configured index and embedder (creating the index if it is new), and the federation
        over the source registry (Redis or the registry file)."""
        index = open_index(settings)
        await index.ensure()
        store = RedisStore(settings.redis_url) if settings.redis_url else None
        federation = Federation.of(open_registry(settings, store), settings)

        async def release() -> None:
            await federation.close()
            if store is not None:
                await store.close()

        return cls(settings, index, open_embedder(settings), federation, release)

    async def __aenter__(self) -> Knowledge:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def hits(
        self, query: str, principal: Principal, *, k: int | None = None, mode: Mode = "hybrid"
    ) -> list[ScoredChunk]:
        """The hits that best match `query` among what `principal` may read (here and federated), each
        with its context window (`hit.text`)."""
        return (await self.retrieve(query, principal, k=k, mode=mode)).hits

    async def retrieve(
        self,
        query: str,
        principal: Principal,
        *,
        k: int | None = None,
        mode: Mode = "hybrid",
        federate: bool = True,
        sources: list[str] | None = None,
    ) -> Retrieved:
        """The best chunks of this index and of the federated Lore deployments `principal` may use, fused
        by rank (RRF); a remote that does not answer within `LORE_REMOTE_TIMEOUT` is named in `skipped`.
        `federate=False` (a question another Lore federated here) searches this index only; `sources`
        (a channel's setup) limits both to those sources."""
        k = k or self.settings.top_k
        search = self.retriever.search(query, principal.sorted(), k=k, mode=mode, source_ids=sources)
        if self.federation is None or not federate or not query.strip():
            return Retrieved(hits=await search)
        local, remote = await asyncio.gather(search, self.federation.search(query, principal, k, sources))
        if not remote.rankings:
            return Retrieved(hits=local, skipped=remote.skipped)
        return Retrieved(hits=self.fuse([local, *remote.rankings], k), skipped=remote.skipped)

    def fuse(self, rankings: list[list[ScoredChunk]], k: int | None = None) -> list[ScoredChunk]:
        """Rankings of different searches (this index, federated Lores, Slack) fused by rank (RRF), at most
        `LORE_MAX_CHUNKS_PER_DOC` per document. Every ranking must already be what the reader may read."""
        k = k or self.settings.top_k
        fused = weighted_rrf([(ranking, 1.0) for ranking in rankings if ranking], self.settings.rrf_k)
        # Equal ranks tie (each side's first is 1/(k+1)). The tie goes to the closer text: the cosine
        # similarity to the question, comparable when both sides use the same embedding model; then to
        # the side's own hybrid score, which every Lore computes alike.
        own = {hit.chunk.id: round(hit.score, 6) for ranking in rankings for hit in ranking}  # as sent
        fused.sort(key=lambda hit: (-round(hit.score, 12), -_closeness(hit), -own[hit.chunk.id]))
        return diversify(fused, k, self.settings.max_chunks_per_doc)

    @property
    def plans_lookups(self) -> bool:
        """True when `look_further` may search again: an LLM is configured and `LORE_SECOND_SEARCH` is on."""
        return self.answerer.llm is not None and self.settings.second_search

    async def look_further(
        self,
        question: str,
        hits: Sequence[ScoredChunk],
        principal: Principal,
        *,
        search: str | None = None,
        sources: list[str] | None = None,
        k: int | None = None,
    ) -> Lookup:
        """`hits` with what a second search adds, when an LLM is configured and `LORE_SECOND_SEARCH` is on:
        the LLM reads the first hits and names what to look up next (`answering.lookups`); each query
        searches this index as `principal`, within `sources`, and its best hits are fused with the first
        ones by rank (`k`, default `LORE_TOP_K`, plus what each query may add). Remote Lore deployments are
        not asked again: the queries carry words of the sources read here, which the remote's operators
        may not read."""
        llm = self.answerer.llm
        if llm is None or not self.settings.second_search or not hits:
            return Lookup(hits=list(hits))
        queries = await plan_lookups(llm, question, hits, [search] if search else [])
        if not queries:
            return Lookup(hits=list(hits))
        grants = principal.sorted()
        more = await asyncio.gather(
            *(self.retriever.search(q, grants, k=LOOKUP_HITS, source_ids=sources) for q in queries)
        )
        fused = self.fuse([list(hits), *more], (k or self.settings.top_k) + LOOKUP_HITS * len(queries))
        first = {hit.chunk.id for hit in hits}
        return Lookup(hits=fused, queries=queries, added=[h for h in fused if h.chunk.id not in first])

    async def search(self, query: str, principal: Principal, *, k: int | None = None) -> list[SearchResult]:
        """`lore search`: the best hits as results, their text the windows a reader sees."""
        return [to_result(hit) for hit in await self.hits(query, principal, k=k)]

    async def standalone(self, question: str, history: History) -> Standalone:
        """A follow-up rewritten into a standalone question from the conversation so far."""
        return await standalone_question(question, history, self.answerer.llm)

    async def ask(
        self, question: str, principal: Principal, history: History = (), *, federate: bool = True
    ) -> Answer:
        """`lore ask`: a cited answer from what `principal` may read (follow-ups made standalone first)."""
        final: Answer | None = None
        async for event in self.ask_stream(question, principal, history, federate=federate):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None  # ask_stream always ends with a Final
        return final

    async def ask_stream(
        self, question: str, principal: Principal, history: History = (), *, federate: bool = True
    ) -> AsyncIterator[AnswerEvent]:
        """The answer as it is written, then the final cited answer."""
        query = await self.standalone(question, history)
        found = await self.retrieve(query.search, principal, federate=federate)
        further = await self.look_further(query.question, found.hits, principal, search=query.search)
        events = self.answerer.stream(query.question, further.hits, history=history, search=query.search)
        async for event in events:
            if isinstance(event, Final):
                update = {"skipped": found.skipped, "looked_up": further.queries}
                event = Final(answer=event.answer.model_copy(update=update))
            yield event

    async def close(self) -> None:
        """Close the answerer, embedder, index and what `open` opened for the federation."""
        if self._on_close is not None:
            await self._on_close()
        await self.answerer.close()
        await self.embedder.close()
        await self.index.close()


def _closeness(hit: ScoredChunk) -> float:
    """The hit's cosine similarity to the question, rounded as the API sends it (-2 when unknown)."""
    return -2.0 if hit.similarity is None else round(hit.similarity, 6)


def to_result(hit: ScoredChunk) -> SearchResult:
    """A hit in the shape of `lore search --json`; its text is the window a reader sees."""
    c = hit.chunk
    return SearchResult(
        doc_id=c.doc_id,
        chunk_id=c.id,
        source=c.source_id,
        title=c.title,
        url=c.url,
        text=hit.text,
        score=round(hit.score, 6),
    )
