"""A question asked in Slack, answered in its thread: dedup, rate limit, status, audience, follow-up
rewriting, retrieval, the streamed cited answer, memory and feedback. Every path ends in a reply."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render, steps
from bot.events import Asked
from bot.feedback import AnswerRecord, Feedback, cited
from bot.identity import Identity
from bot.memory import ConversationMemory, ThreadRef, Turn
from bot.reply import Reply, ReplyTarget
from bot.slack_search import SOURCE as SLACK
from bot.slack_search import SlackSearch
from knowledge import keys
from knowledge.access import PUBLIC, Principal
from knowledge.answering.answerer import Delta, Final
from knowledge.answering.rewrite import Standalone
from knowledge.channels import ChannelSetups, open_channel_setups
from knowledge.embedding.base import EmbeddingError
from knowledge.index.base import IndexUnavailable
from knowledge.kv.base import KeyValue, StoreUnavailable
from knowledge.logs import request_context
from knowledge.metrics import Metrics
from knowledge.models import Answer, ScoredChunk
from knowledge.service import Knowledge
from knowledge.settings import Settings

log = logging.getLogger(__name__)

SEEN_TTL = 24 * 3600  # seconds a message stays marked as answered (Slack retries within minutes)
OFFER_TTL = 24 * 3600
STATUS = "Searching the knowledge base…"
PRIVATE_OFFER = (
    "{count} more sources that only you can read may answer this better. I left them out because {why}: "
    "I can answer you privately."
)

NOTICES = {
    "index": "I couldn't search the knowledge base just now: its index is unavailable. Please try again in "
    "a minute; if it keeps happening, tell your Lore admin.",
    "embedding": "I couldn't read your question just now: the embedding service is unavailable. Please try "
    "again in a minute; if it keeps happening, tell your Lore admin.",
    "store": "I can't reach my shared state (Redis) right now, so I can't answer safely. Please try again in "
    "a minute; if it keeps happening, tell your Lore admin.",
    "timeout": "Sorry, answering took too long and I gave up. Please try again in a moment.",
    "error": "Something went wrong on my side while answering (reference {ref}). Please try again; if it "
    "keeps happening, tell your Lore admin and quote that reference.",
    "rate": "You have asked {count} questions in the last minute, which is my limit of {limit}. "
    "Please wait a moment and ask again.",
}


class Answering:
    """Answers questions in Slack threads; one instance serves every event of a process."""

    def __init__(
        self,
        kb: Knowledge,
        store: KeyValue,
        identity: Identity,
        memory: ConversationMemory,
        feedback: Feedback,
        settings: Settings,
        metrics: Metrics | None = None,
        channels: ChannelSetups | None = None,
    ) -> None:
        self.kb = kb
        self.store = store
        self.identity = identity
        self.memory = memory
        self.feedback = feedback
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.slack_search = SlackSearch(identity.client)
        self.channels = channels or open_channel_setups(settings, store)
        self._running: set[asyncio.Task[Any]] = set()

    async def drain(self, seconds: float) -> None:
        """Wait (up to `seconds`) for the answers being written to finish."""
        if self._running:
            log.info("waiting for %d answers to finish", len(self._running))
            await asyncio.wait(set(self._running), timeout=seconds)

    async def handle(self, asked: Asked, client: AsyncWebClient) -> None:
        """Answer `asked` in its thread, or say honestly why not. Never raises."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        with request_context() as ref:  # the request id of its log lines, and the reference users quote
            await self._handle(asked, client, ref)

    async def _handle(self, asked: Asked, client: AsyncWebClient, ref: str) -> None:
        where = f"ref={ref} team={asked.team} channel={asked.channel} ts={asked.ts} user={asked.user}"
        target = ReplyTarget(
            channel=asked.channel, thread_ts=asked.thread_ts, team=asked.team, user=asked.user
        )
        reply = Reply(client, target, interval=self.settings.stream_interval)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.answer_timeout):
                mode = await self._answer(asked, client, reply, started)
        except StoreUnavailable as exc:
            log.error("state store failed while answering (%s): %s", where, exc)
            await self._notice(client, reply, asked, "store")
        except IndexUnavailable as exc:
            log.error("index failed while answering (%s): %s", where, exc)
            await self._notice(client, reply, asked, "index")
        except EmbeddingError as exc:
            log.error("embedding failed while answering (%s): %s", where, exc)
            await self._notice(client, reply, asked, "embedding")
        except TimeoutError:
            log.error("answer timed out after %.0f s (%s)", self.settings.answer_timeout, where)
            await self._notice(client, reply, asked, "timeout")
        except Exception:
            log.exception("answering failed (%s)", where)
            await self._notice(client, reply, asked, "error", ref)
        else:
            if mode:
                log.info(
                    "answered (%s surface=%s mode=%s %.2fs)",
                    where,
                    asked.surface,
                    mode,
                    time.monotonic() - started,
                )

    async def _answer(self, asked: Asked, client: AsyncWebClient, reply: Reply, started: float) -> str | None:
        if not await self.store.claim(keys.message(asked.team, asked.channel, asked.ts), SEEN_TTL):
            log.info("already answering %s/%s: ignored", asked.channel, asked.ts)
            return None
        where = "assistant" if asked.surface == "assistant" else "dm" if asked.private else "channel"
        self.metrics.questions.labels(where=where).inc()
        if await self._over_limit(asked, client):
            return "rate_limited"
        await self._status(client, asked)
        setup = None if asked.private else await self.channels.get(asked.channel)
        if setup is not None and setup.private:  # only the asker sees it, and may share it in the channel
            asked = asked.model_copy(update={"share_to": asked.channel, "share_thread": asked.thread_ts})
            reply.ephemeral = True
        asker = await self.identity.principal(asked.team, asked.user)
        alone = asked.private or reply.ephemeral
        audience, why = (asker, "") if alone else await self._audience(asked, asker)
        sources = (setup.sources or None) if setup is not None else None
        thread = ThreadRef(team=asked.team, channel=asked.channel, thread_ts=asked.thread_ts)
        history = await self.memory.history(thread, audience)
        standalone = await self.kb.standalone(asked.text, history)
        await reply.step(steps.searching(alone))
        with self.metrics.retrieval_seconds.time():
            found, in_slack = await asyncio.gather(
                self.kb.retrieve(standalone.search, audience, sources=sources),
                self._slack(asked, standalone.search, sources),
            )
        hits = self.kb.fuse([found.hits, in_slack]) if in_slack else found.hits
        await reply.step(steps.searched(hits, found.skipped))
        if hits and self.kb.plans_lookups:
            await reply.step(steps.looking_further())
            further = await self.kb.look_further(
                standalone.question, hits, audience, search=standalone.search, sources=sources
            )
            self.metrics.second_searches.labels(outcome="searched" if further.queries else "none").inc()
            await reply.step(steps.looked_further(further.queries, further.added))
            hits = further.hits
        await reply.step(steps.writing(self.settings.llm_base_url is not None))
        preset = setup.preset if setup is not None else ""
        answer, streamed = await self._stream(reply, standalone, hits, history, started, preset)
        await reply.step(steps.written(answer.mode == "no_answer"))
        answer = answer.model_copy(update={"skipped": found.skipped})
        answer_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        shareable = asked.share_to is not None and answer.mode != "no_answer" and bool(answer.citations)
        await reply.finish(
            streamed_text=streamed,
            text=render.fallback_text(answer),
            blocks=render.answer_blocks(answer, answer_id=answer_id, now=now, share=shareable),
            tail=render.source_blocks(answer, answer_id=answer_id, now=now, share=shareable),
        )
        self.metrics.answered(answer.mode, time.monotonic() - started)
        if audience.grants != asker.grants:  # after the answer: the offer must not delay it
            await self._offer_private(asked, client, standalone, hits, asker, audience, why)
        turn = Turn(
            question=asked.text,
            standalone=standalone.question,
            answer=answer.answer,
            grants=audience.sorted(),
        )
        await self.memory.add(thread, turn)
        await self.feedback.remember(
            AnswerRecord(
                answer_id=answer_id,
                team=asked.team,
                channel=asked.channel,
                thread_ts=asked.thread_ts,
                user=asked.user,
                question=asked.text,
                standalone=standalone.question,
                answer=answer.answer,
                mode=answer.mode,
                citations=cited(answer.citations),
                at=time.time(),
                share_to=asked.share_to,
                share_thread=asked.share_thread,
            )
        )
        return answer.mode

    async def _stream(
        self,
        reply: Reply,
        query: Standalone,
        hits: list[ScoredChunk],
        history: list[tuple[str, str]],
        started: float,
        preset: str = "",
    ) -> tuple[Answer, str]:
        streamed = ""
        final: Answer | None = None
        events = self.kb.answerer.stream(
            query.question, hits, history=history, preset=preset, search=query.search
        )
        async for event in events:
            if isinstance(event, Delta):
                if event.text and not streamed:
                    self.metrics.first_token_seconds.observe(time.monotonic() - started)
                streamed += event.text
                await reply.append(event.text)
            elif isinstance(event, Final):
                final = event.answer
        assert final is not None, "the answerer always ends with a Final event"
        return final, streamed

    async def _slack(self, asked: Asked, query: str, sources: list[str] | None) -> list[ScoredChunk]:
        """Slack's own messages and files on the question, when the admin turned it on (and the channel's
        setup does not limit it to other sources): as the asker in a DM, the assistant pane or an answer only
        the asker sees; public-channel messages only in a public channel whose readers may all open them."""
        if not self.settings.search_slack or not asked.action_token or (sources and SLACK not in sources):
            return []
        if asked.private or asked.share_to is not None:
            return await self.slack_search.hits(query, asked.action_token, "asker")
        if await self.identity.only_full_members(asked.team, asked.channel):
            return await self.slack_search.hits(query, asked.action_token, "public")
        return []

    async def _audience(self, asked: Asked, asker: Principal) -> tuple[Principal, str]:
        """What everyone who can read the channel holds (never more than the asker), and why it may be
        less than the asker holds."""
        everyone = await self.identity.audience(asked.team, asked.channel)
        return Principal(grants=(everyone.principal.grants & asker.grants) | {PUBLIC}), everyone.why

    async def _over_limit(self, asked: Asked, client: AsyncWebClient) -> bool:
        limit = self.settings.rate_limit
        if not limit:
            return False
        window = int(time.time() // 60)
        count = await self.store.incr(keys.rate(asked.team, asked.user, window), 60)
        if count <= limit:
            return False
        log.info("rate limit: %s asked %d questions this minute", asked.user, count)
        text = NOTICES["rate"].format(count=count, limit=limit)
        await self._tell_asker(client, asked, text)
        return True

    async def _status(self, client: AsyncWebClient, asked: Asked) -> None:
        try:
            await client.assistant_threads_setStatus(
                channel_id=asked.channel, thread_ts=asked.thread_ts, status=STATUS
            )
        except SlackApiError as exc:  # not an assistant thread, or an older workspace: the answer follows
            log.debug("status not shown in %s: %s", asked.channel, exc.response.get("error"))

    async def _offer_private(
        self,
        asked: Asked,
        client: AsyncWebClient,
        query: Standalone,
        shared: list[ScoredChunk],
        asker: Principal,
        audience: Principal,
        why: str,
    ) -> None:
        """Tell the asker (only) when documents they alone may read would add to the answer, and why the
        answer in the channel left them out."""
        mine = await self.kb.hits(query.search, asker)
        extra = {(h.chunk.source_id, h.chunk.doc_id) for h in mine if not audience.can_read(h.chunk.acl)}
        extra -= {(h.chunk.source_id, h.chunk.doc_id) for h in shared}
        if not extra:
            return
        offer_id = uuid.uuid4().hex
        offer = {
            "team": asked.team,
            "channel": asked.channel,
            "thread_ts": asked.thread_ts,
            "user": asked.user,
            "question": query.question,
        }
        await self.store.set(keys.offer(offer_id), json.dumps(offer), OFFER_TTL)
        try:
            await client.chat_postEphemeral(
                channel=asked.channel,
                user=asked.user,
                thread_ts=asked.thread_ts,
                text=PRIVATE_OFFER.format(count=len(extra), why=why),
                blocks=render.private_offer_blocks(len(extra), offer_id, why),
            )
        except SlackApiError as exc:
            log.warning(
                "could not offer a private answer in %s: %s", asked.channel, exc.response.get("error")
            )

    async def answer_privately(self, offer_id: str, user: str, client: AsyncWebClient) -> str:
        """Answer an offered question in a DM with the person who asked; returns what to tell them."""
        raw = await self.store.get(keys.offer(offer_id))
        if raw is None:
            return "That offer has expired: ask me again in a DM."
        offer = json.loads(raw)
        if offer["user"] != user:
            return "Only the person who asked can get this answer privately."
        await self.store.delete(keys.offer(offer_id))
        opened = await client.conversations_open(users=user)
        dm = str(opened["channel"]["id"])
        header = f"You asked in <#{offer['channel']}>: {render.escape(offer['question'])}"
        posted = await client.chat_postMessage(
            channel=dm, text=header, unfurl_links=False, unfurl_media=False
        )
        ts = str(posted["ts"])
        asked = Asked(
            team=offer["team"],
            channel=dm,
            channel_type="im",
            user=user,
            text=offer["question"],
            ts=ts,
            thread_ts=ts,
            surface="dm",
            share_to=offer["channel"],
            share_thread=offer.get("thread_ts"),
        )
        asyncio.get_running_loop().create_task(self.handle(asked, client))
        return "I'm answering you privately in our DM."

    async def _tell_asker(self, client: AsyncWebClient, asked: Asked, text: str) -> None:
        """A message only the asker sees: ephemeral in a channel, a thread reply in a DM."""
        try:
            if asked.private:
                await client.chat_postMessage(
                    channel=asked.channel,
                    thread_ts=asked.thread_ts,
                    text=text,
                    blocks=render.notice_blocks(text),
                )
            else:
                await client.chat_postEphemeral(
                    channel=asked.channel, user=asked.user, thread_ts=asked.thread_ts, text=text
                )
        except SlackApiError as exc:
            log.error("could not tell %s in %s: %s", asked.user, asked.channel, exc.response.get("error"))

    async def _notice(
        self, client: AsyncWebClient, reply: Reply, asked: Asked, reason: str, ref: str = ""
    ) -> None:
        """`NOTICES[reason]` in the thread, honestly, replacing a partial answer if one was started."""
        if reply.finished:  # the answer is out; what failed after it (memory, the offer) is only logged
            return
        self.metrics.answer_failures.labels(reason=reason).inc()
        text = NOTICES[reason].format(ref=ref)
        blocks = render.notice_blocks(text)
        try:
            if reply.started or reply.ephemeral:  # replaces a partial answer; or for the asker's eyes only
                await reply.finish(streamed_text="", text=text, blocks=blocks, tail=[])
            else:
                await client.chat_postMessage(
                    channel=asked.channel, thread_ts=asked.thread_ts, text=text, blocks=blocks
                )
        except SlackApiError as exc:
            log.error("could not post the notice in %s: %s", asked.channel, exc.response.get("error"))
