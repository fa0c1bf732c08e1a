"""The two things a program can ask Lore, under a key's principal: used by the HTTP API and the MCP server."""

from __future__ import annotations

from collections.abc import AsyncIterator

from api.schemas import AnswerRequest, AnswerResponse, Delta, Result, SearchRequest, SearchResponse
from knowledge.access import Principal
from knowledge.answering import answerer
from knowledge.service import Knowledge


def _history(request: AnswerRequest) -> list[tuple[str, str]]:
    return [(turn.question, turn.answer) for turn in request.history]


async def search(
    kb: Knowledge, principal: Principal, request: SearchRequest, *, federate: bool = True
) -> SearchResponse:
    """The best results `principal` may read (federated ones included, unless `federate` is False: the
    question came from another Lore)."""
    found = await kb.retrieve(request.query, principal, k=request.k, federate=federate)
    return SearchResponse(results=[Result.of(hit) for hit in found.hits], skipped=found.skipped)


async def answer(
    kb: Knowledge, principal: Principal, request: AnswerRequest, *, federate: bool = True
) -> AnswerResponse:
    """A cited answer from what `principal` may read."""
    return AnswerResponse.of(await kb.ask(request.question, principal, _history(request), federate=federate))


async def answer_events(
    kb: Knowledge, principal: Principal, request: AnswerRequest, *, federate: bool = True
) -> AsyncIterator[Delta | AnswerResponse]:
    """The answer as it is written (`Delta`s), then the final answer, which replaces what was shown."""
    history = _history(request)
    async for event in kb.ask_stream(request.question, principal, history, federate=federate):
        if isinstance(event, answerer.Delta):
            if event.text:
                yield Delta(text=event.text)
        else:
            yield AnswerResponse.of(event.answer)
