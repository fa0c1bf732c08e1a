"""Never silent, never twice: signatures, retries across replicas, Slack's refusals and 429s, a dead LLM,
Redis or index, rate limits, timeouts, Socket Mode and the probes."""

from __future__ import annotations

import json
import time

import aiohttp
from qdrant_client import AsyncQdrantClient

from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.server import ServerIndex
from knowledge.kv.base import StoreUnavailable
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, BOB, bot_harness, bot_settings
from tests.conftest import free_port
from tests.llm_standin import LLMStandin
from tests.slack_standin import Message, SlackStandin, event_body

QUESTION = "How much are meals reimbursed on business trips?"


def mention(ts: str, text: str = QUESTION, user: str = BOB, channel: str = "CGENERAL") -> dict[str, str]:
    return {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts, "channel": channel}


async def mention_with_llm(
    llm: LLMStandin, kb: Knowledge, settings: Settings, slack: SlackStandin, **overrides: object
) -> Message:
    """Bob mentions Lore in #general, with `llm` as the LLM; returns the finished reply."""
    tuned = bot_settings(settings, slack, llm_base_url=llm.base_url, **overrides)
    with_llm = Knowledge(tuned, kb.index, kb.embedder)
    async with bot_harness(with_llm, [MemoryStore()], tuned, slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
    await with_llm.answerer.close()
    return reply


async def test_bad_or_stale_signatures_get_401_and_nothing_is_posted(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        body = json.dumps(event_body(mention("1600000000.000001"), event_id="Ev1"))
        assert await bot.post(body, secret="not-the-secret") == 401
        assert await bot.post(body, timestamp=int(time.time()) - 600) == 401
        async with bot.http.post(bot.urls[0], data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 401
        await bot.settle()
    assert [c.method for c in slack.calls if c.method.startswith(("chat.", "assistant."))] == []


async def test_one_event_three_deliveries_two_replicas_one_answer(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, redis_url: str
) -> None:
    stores = [RedisStore(redis_url), RedisStore(redis_url)]
    async with bot_harness(
        loaded_kb, stores, bot_settings(settings, slack, redis_url=redis_url), slack
    ) as bot:
        ts = bot.next_ts()
        body = json.dumps(event_body(mention(ts), event_id=f"EvDup{ts}"))
        statuses = [
            await bot.post(body, to=0),
            await bot.post(body, to=1, retry_num=1),
            await bot.post(body, to=0, retry_num=2),
        ]
        assert statuses == [200, 200, 200]
        await bot.answer_in("CGENERAL", ts)
        await bot.settle()
        assert len(slack.calls_to("chat.startStream")) == 1
        assert len(slack.replies_in("CGENERAL", ts)) == 1
    for store in stores:
        await store.close()


async def test_an_at_mention_arriving_as_two_events_is_answered_once(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = bot.next_ts()
        thread = bot.next_ts()
        reply = {**mention(ts), "thread_ts": thread}
        assert await bot.event(reply) == 200
        as_message = {**reply, "type": "message", "channel_type": "channel"}
        assert await bot.event(as_message) == 200
        await bot.answer_in("CGENERAL", thread)
        await bot.settle()
    assert len(slack.calls_to("chat.startStream")) == 1


async def test_a_failing_llm_gives_an_extractive_answer(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with LLMStandin(status=500) as llm:
        reply = await mention_with_llm(llm, loaded_kb, settings, slack, llm_retries=0)
        assert llm.requests
    assert "75 euros" in reply.text and "[1]" in reply.text


async def test_a_streaming_llm_answer_streams_into_the_thread(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    words = "Meals on business trips are reimbursed up to 75 euros a day [1]."
    async with LLMStandin(replies=[words], piece_size=4) as llm:
        reply = await mention_with_llm(llm, loaded_kb, settings, slack, stream_interval=0.001)
    assert reply.text.strip() == words
    assert len(slack.calls_to("chat.appendStream")) >= 2
    assert "*Sources*" in json.dumps(slack.calls_to("chat.stopStream")[0].args["blocks"])


async def test_refused_streaming_falls_back_to_post_and_update(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    slack.fail("chat.startStream", error="not_allowed_token_type", status=200, times=None)
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
    assert "75 euros" in reply.text
    assert slack.calls_to("chat.postMessage")[0].args["thread_ts"] == ts
    assert slack.calls_to("chat.update")[-1].args["blocks"]


async def test_a_429_is_waited_out_and_the_answer_still_arrives(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    slack.fail("chat.stopStream", error="ratelimited", status=429, retry_after=1, times=1)
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
    first, second = slack.calls_to("chat.stopStream")
    assert second.at - first.at >= 1.0
    assert reply.blocks and "75 euros" in reply.text


async def test_the_rate_limit_answers_with_a_friendly_message(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with bot_harness(
        loaded_kb, [MemoryStore()], bot_settings(settings, slack, rate_limit=2), slack
    ) as bot:
        for _ in range(3):
            ts = await bot.mention(BOB, "CGENERAL", QUESTION)
            await bot.settle()
        [limited] = slack.calls_to("chat.postEphemeral")
    assert limited.args["user"] == BOB and limited.args["thread_ts"] == ts
    assert "wait a moment" in limited.args["text"]
    assert len(slack.calls_to("chat.startStream")) == 2


async def test_redis_down_gives_an_honest_message(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    async with bot_harness(loaded_kb, [dead], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [notice] = await bot.answer_in("CGENERAL", ts)
    assert "Redis" in notice.text and "try again" in notice.text


async def test_index_down_gives_an_honest_message(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder
) -> None:
    dead = ServerIndex(AsyncQdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1), "lore", 384)
    kb = Knowledge(settings, dead, embedder)
    async with bot_harness(kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.message(ANA, "DUANA", QUESTION, channel_type="im")
        [notice] = await bot.answer_in("DUANA", ts)
    await dead.close()
    assert "index is unavailable" in notice.text


async def test_an_answer_that_takes_too_long_says_so(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with LLMStandin(hang=True) as llm:
        notice = await mention_with_llm(llm, loaded_kb, settings, slack, llm_timeout=30, answer_timeout=1)
    assert "took too long" in notice.text


async def test_socket_mode_envelopes_are_acked_and_answered(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    tuned = bot_settings(settings, slack, slack_app_token="xapp-test", slack_signing_secret=None)
    async with bot_harness(loaded_kb, [], tuned, slack) as bot:
        from bot.runtime import BotRuntime

        runtime = await BotRuntime.open(tuned, kb=loaded_kb, store=MemoryStore())
        try:
            await runtime.connect_socket_mode()
            ts = bot.next_ts()
            envelope = await slack.send_envelope("events_api", event_body(mention(ts), event_id="EvSock1"))
            await slack.wait_for_ack(envelope)
            bot.runtimes.append(runtime)
            [reply] = await bot.answer_in("CGENERAL", ts)
        finally:
            await runtime.close()
    assert "75 euros" in reply.text


async def test_probes(loaded_kb: Knowledge, settings: Settings, slack: SlackStandin) -> None:
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    async with (
        bot_harness(loaded_kb, [MemoryStore(), dead], bot_settings(settings, slack), slack) as bot,
        aiohttp.ClientSession() as http,
    ):
        base = [url.removesuffix("/slack/events") for url in bot.urls]
        async with http.get(f"{base[0]}/healthz") as ok, http.get(f"{base[0]}/readyz") as ready:
            assert ok.status == 200 and ready.status == 200
        async with http.get(f"{base[1]}/readyz") as unready:
            assert unready.status == 503
            assert (await unready.json())["checks"]["store"].startswith("failed")


async def test_hostile_llm_output_split_across_pieces_stays_harmless(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    words = "Meals are 75 euros a day [1]. <!channel> see [the form](https://evil.example/x) <@U999> @here."
    async with LLMStandin(replies=[words], piece_size=3) as llm:
        reply = await mention_with_llm(llm, loaded_kb, settings, slack, stream_interval=0.0001)
    streamed = [c.args.get("markdown_text", "") for c in slack.calls if c.method.endswith("Stream")]
    assert len(streamed) > 3
    assert "75 euros" in reply.text and "the form" in reply.text
    for raw in ("<!channel>", "<@U999>", "](https://evil", "@here"):
        assert raw not in reply.text


class ForgetfulStore(MemoryStore):
    """A store whose list writes fail, as Redis does when it goes away mid-question."""

    async def push(self, key: str, value: str, ttl: float, keep: int) -> None:
        raise StoreUnavailable("Redis at standin failed (ConnectionError): check LORE_REDIS_URL")


async def test_a_store_failure_after_the_answer_leaves_the_answer_in_place(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with bot_harness(loaded_kb, [ForgetfulStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
    assert "75 euros" in reply.text and "Redis" not in reply.text
    assert slack.calls_to("chat.update") == []
