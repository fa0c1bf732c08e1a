"""From a question and its retrieved chunks to a cited `Answer`, streamed or at once.

With an LLM the answer is generative; without one, or when the LLM fails at any point, it is extractive.
Either way only valid citations survive, and an answer that cites nothing becomes `no_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Literal

from pydantic import BaseModel

from knowledge.answering.citations import build_citations, renumber
from knowledge.answering.context import PackedContext, pack
from knowledge.answering.extractive import default_tokenizer, extractive_answer
from knowledge.answering.llm import ChatClient, LLMError
from knowledge.answering.no_answer import no_answer
from knowledge.answering.prompt import NOT_FOUND, build_messages
from knowledge.answering.streaming import MarkerFilter
from knowledge.embedding.base import Embedder
from knowledge.models import Answer, ScoredChunk
from knowledge.settings import Settings

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str]]


class Delta(BaseModel):
    """Visible answer text as it arrives, citation markers already cleaned and renumbered."""

    kind: Literal["delta"] = "delta"
    text: str


class Final(BaseModel):
    """The finished answer. It replaces whatever the deltas showed (it may be a fallback)."""

    kind: Literal["final"] = "final"
    answer: Answer


AnswerEvent = Delta | Final


def generative_answer(question: str, reply: str, context: PackedContext) -> Answer:
    """The LLM's raw reply made honest: invalid markers dropped, renumbered, cited, or `no_answer`."""
    hits = [source.hit for source in context.sources]
    if NOT_FOUND in reply:
        return no_answer(question, hits)
    cleaned = renumber(reply, context.numbers())
    if not cleaned.order:
        return no_answer(question, hits)
    ordered = [source.hit for n in cleaned.order if (source := context.get(n)) is not None]
    text = cleaned.text.strip()
    return Answer(answer=text, mode="generative", citations=build_citations(text, ordered))


class Answerer:
    """Answers questions from retrieved chunks; owns its LLM client (`close()` or `async with`)."""

    def __init__(
        self, settings: Settings, llm: ChatClient | None = None, embedder: Embedder | None = None
    ) -> None:
        """Uses `llm`, else a client for `LORE_LLM_BASE_URL` when it is set, else answers extractively;
        `embedder` (the index's) judges which sentences answer an extractive answer's question."""
        self.settings = settings
        self.llm = llm or (ChatClient(settings) if settings.llm_base_url else None)
        self.embedder = embedder
        # The brief's choice for sentence matching: jieba words, whatever the index uses for BM25.
        self.tokenizer = default_tokenizer("jieba")

    async def answer(
        self, question: str, hits: Sequence[ScoredChunk], history: History = (), *, search: str | None = None
    ) -> Answer:
        """The whole answer at once."""
        final: Answer | None = None
        async for event in self.stream(question, hits, history, search=search):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None  # stream() always ends with a Final
        return final

    async def stream(
        self,
        question: str,
        hits: Sequence[ScoredChunk],
        history: History = (),
        preset: str = "",
        *,
        search: str | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        """`Delta`s of visible text, then one `Final` (always, whatever fails).

        Deltas stream while the LLM writes; an answer made at once (extractive, no_answer before any text)
        comes as one Delta. `Final.answer` is authoritative: after a mid-stream failure or an answer
        without valid citations it differs from what the deltas showed, and should replace it. `preset`
        (a channel's tone or language) reaches the LLM only: extractive answers quote the sources.
        `search` (the text retrieval searched, when it differs from `question`, see `Standalone`) is what an
        extractive answer judges sentences against: a follow-up's "the last one" names nothing a sentence
        says, while the LLM reads the question whole, with the thread.
        """
        judged = search or question
        if hits and self.llm is not None:
            shown_any = False
            async with aclosing(self._generate(question, judged, hits, history, preset)) as events:
                async for event in events:
                    if isinstance(event, Final) and not shown_any:
                        yield Delta(text=event.answer.answer)
                    shown_any = shown_any or isinstance(event, Delta)
                    yield event
            return
        answer = await self._extractive(judged, hits) if hits else no_answer(question, [])
        yield Delta(text=answer.answer)
        yield Final(answer=answer)

    async def _generate(
        self, question: str, judged: str, hits: Sequence[ScoredChunk], history: History, preset: str = ""
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Stream from the LLM. Ends with a Final; a Final before any Delta has not been shown yet."""
        assert self.llm is not None
        context = pack(hits, self.settings.context_tokens)
        messages = build_messages(question, context, history, preset)
        shown = MarkerFilter(context.numbers(), NOT_FOUND)
        try:
            async with aclosing(self.llm.stream(messages)) as pieces:
                async for piece in pieces:
                    if visible := shown.feed(piece):
                        yield Delta(text=visible)
        except LLMError as exc:
            log.warning(
                "LLM answer failed, answering extractively: %s (cause=%r, retryable=%s, model=%s, "
                "sources=%d, received=%d chars)",
                exc,
                exc.__cause__,
                exc.retryable,
                self.settings.llm_model,
                len(context.sources),
                len(shown.raw),
            )
            yield Final(answer=await self._extractive(judged, hits))
            return
        if rest := shown.finish():
            yield Delta(text=rest)
        yield Final(answer=generative_answer(question, shown.raw, context))

    async def _extractive(self, question: str, hits: Sequence[ScoredChunk]) -> Answer:
        return await extractive_answer(question, hits, self.embedder, self.tokenizer)

    async def close(self) -> None:
        """Close the LLM client, if any."""
        if self.llm is not None:
            await self.llm.aclose()

    async def __aenter__(self) -> Answerer:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
