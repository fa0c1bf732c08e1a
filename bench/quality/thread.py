"""Follow-ups asked the way a Slack thread asks them: each earlier question is made standalone from the
thread so far, retrieved and answered by Lore (no LLM: extractive), and remembered in the bot's own
conversation memory (its token cap included); the follow-up is then rewritten from that memory.
"""

from __future__ import annotations

from bot.memory import ConversationMemory, ThreadRef, Turn
from knowledge.access import Principal
from knowledge.answering.rewrite import Standalone
from knowledge.kv.memory import MemoryStore
from knowledge.service import History, Knowledge


class Threads:
    """Threads of one knowledge base; a thread that starts with the same questions is asked once."""

    def __init__(self, kb: Knowledge, principal: Principal) -> None:
        self.kb = kb
        self.principal = principal
        self.memory = ConversationMemory(MemoryStore(), ttl=3600, max_tokens=kb.settings.memory_tokens)
        self._threads: dict[tuple[str, ...], ThreadRef] = {}

    async def history(self, asked: list[str]) -> History:
        """The thread's memory after Lore answered `asked` in order (what the rewriter gets)."""
        if not asked:
            return []
        key = tuple(asked)
        if key not in self._threads:
            before = await self.history(asked[:-1])
            query = await self.kb.standalone(asked[-1], before)
            found = await self.kb.retrieve(query.search, self.principal, federate=False)
            answer = await self.kb.answerer.answer(
                query.question, found.hits, history=before, search=query.search
            )
            thread = ThreadRef(team="T", channel="C", thread_ts=str(len(self._threads)))
            if len(asked) > 1:  # the same thread, continued: copy the turns of its beginning
                for turn in await self.memory.turns(self._threads[key[:-1]]):
                    await self.memory.add(thread, turn)
            turn = Turn(
                question=asked[-1],
                standalone=query.question,
                answer=answer.answer,
                grants=self.principal.sorted(),
            )
            await self.memory.add(thread, turn)
            self._threads[key] = thread
        return await self.memory.history(self._threads[key], self.principal)

    async def standalone(self, question: str, asked: list[str]) -> Standalone:
        """`question` rewritten from the thread in which `asked` came before it."""
        return await self.kb.standalone(question, await self.history(asked))
