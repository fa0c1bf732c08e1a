"""`/metrics` of the bot, the worker and the API, scraped over HTTP: questions, answers, timings, votes,
Slack's errors and 429s, syncs, queue depth and API requests; labels never carry a question or a user id."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from ingestion.sync import SyncEngine
from ingestion.worker import WorkerContext, build_worker, run_sync, work, working
from knowledge.jobs import JobRequest
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from knowledge.metrics import Metrics, code
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from lore.commands.worker import probes
from tests.api_harness import serving_api
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings, feedback_action
from tests.conftest import free_port, write_pages
from tests.slack_standin import SlackStandin

QUESTION = "How much are meals reimbursed on business trips?"


def value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def label_values(exposition: str) -> set[str]:
    families = text_string_to_metric_families(exposition)
    return {v for family in families for sample in family.samples for v in sample.labels.values()}


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200 and response.content_type == "text/plain"
        return await response.text()


async def bot_metrics(bot: Bot) -> str:
    return await scrape(bot.http, bot.urls[0].removesuffix("/slack/events") + "/metrics")


async def test_a_question_and_a_vote_are_counted(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        assert value(await bot_metrics(bot), "lore_questions_total") == 0
        ts = await bot.mention(BOB, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
        up = feedback_action(reply.blocks, "up")
        assert await bot.click(BOB, "CGENERAL", up, message_ts=reply.ts) == 200
        await bot.slack.wait_for("response_url")
        text = await bot_metrics(bot)
    assert value(text, "lore_questions_total", where="channel") == value(text, "lore_questions_total") == 1
    assert value(text, "lore_answers_total", mode="extractive") == 1
    for histogram in ("lore_retrieval_seconds", "lore_first_token_seconds", "lore_answer_seconds"):
        assert value(text, f"{histogram}_count") == 1
    assert value(text, "lore_feedback_total", vote="up") == 1 and value(text, "lore_feedback_total") == 1
    assert value(text, "lore_answer_failures_total") == 0
    labels = " ".join(label_values(text))
    for secret in (BOB, ANA, QUESTION, "meals", "xoxb-test"):
        assert secret not in labels


async def test_slack_errors_and_429s_are_counted_and_still_answered(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    slack.fail("chat.startStream", error="not_allowed_token_type", status=200, times=None)
    slack.fail("chat.update", error="ratelimited", status=429, retry_after=0, times=1)
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as bot:
        ts = await bot.mention(ANA, "CGENERAL", QUESTION)
        [reply] = await bot.answer_in("CGENERAL", ts)
        text = await bot_metrics(bot)
    assert "75 euros" in reply.text
    errors = "lore_slack_api_errors_total"
    refused = value(text, errors, method="chat.startStream", error="not_allowed_token_type")
    assert refused == len(slack.calls_to("chat.startStream")) >= 1
    assert value(text, "lore_slack_rate_limited_total", method="chat.update") == 1
    assert value(text, "lore_slack_rate_limited_total") == 1


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_a_sync_counts_documents_by_outcome_and_errors(
    settings: Settings, engine: SyncEngine, tmp_path: Path
) -> None:
    folder = write_pages(tmp_path / "wiki", {"a.md": "# A\n\nAlpha text.\n", "b.md": "# B\n\nBeta text.\n"})
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage \x00\x01\x02")
    registry = StoreRegistry(MemoryStore())
    await registry.put(Source(id="wiki", location=[str(folder)], access=["public"], added_by="U1"))
    context = WorkerContext(settings=settings, engine=engine, registry=registry, notify=_quiet)
    await run_sync(context, JobRequest(source_id="wiki"))
    (folder / "a.md").unlink()
    await run_sync(context, JobRequest(source_id="wiki"))
    text = context.metrics.render()[0].decode()
    counts = {
        outcome: value(text, "lore_sync_documents_total", source="wiki", outcome=outcome)
        for outcome in ("added", "updated", "unchanged", "deleted", "failed")
    }
    assert counts == {"added": 2, "updated": 0, "unchanged": 1, "deleted": 1, "failed": 2}
    assert value(text, "lore_sync_errors_total", source="wiki", stage="document") == 2
    assert value(text, "lore_sync_errors_total", stage="sync") == 0
    assert value(text, "lore_sync_runs_total", source="wiki", result="ok") == 2


async def _quiet(user_id: str | None, text: str) -> None:
    """Nobody to tell in these tests."""


async def test_the_api_counts_requests_by_status_and_answers(
    loaded_kb: Knowledge, settings: Settings
) -> None:
    async with serving_api(loaded_kb, settings) as api:
        key = await api.key("agent", [])
        assert (await api.post("/v1/search", {"query": "meals"}, None))[0] == 401
        assert (await api.post("/v1/search", {"query": "meals"}, key))[0] == 200
        assert (await api.post("/v1/answer", {"question": QUESTION}, key))[0] == 200
        async with api.http.get(api.url + "/nowhere", headers={"X-Request-Id": "trace-42"}) as missing:
            assert missing.status == 404 and missing.headers["X-Request-Id"] == "trace-42"
        async with api.http.get(api.url + "/metrics") as response:
            assert response.status == 200 and response.headers["X-Request-Id"]
            text = await response.text()
    assert value(text, "lore_api_requests_total", path="/v1/search", status="401") == 1
    assert value(text, "lore_api_requests_total", path="/v1/search", status="200") == 1
    assert value(text, "lore_api_requests_total", path="other", status="404") == 1
    assert value(text, "lore_questions_total", where="api") == 1
    assert value(text, "lore_answers_total", mode="extractive") == 1
    assert value(text, "lore_retrieval_seconds_count") == 1 and value(text, "lore_answer_seconds_count") == 1
    assert not {QUESTION, "meals", "/nowhere"} & label_values(text)


@pytest.mark.parametrize("kb", ["edge"], indirect=True)
async def test_the_worker_serves_health_and_queue_depth(
    settings: Settings, engine: SyncEngine, redis_url: str
) -> None:
    raw = aioredis.Redis.from_url(redis_url)
    await raw.flushdb()
    await raw.aclose()
    store = RedisStore(redis_url)
    registry = StoreRegistry(store)
    context = WorkerContext(settings=settings, engine=engine, registry=registry, metrics=Metrics())
    worker = build_worker(context, redis_url, handle_signals=False)
    started, startup = asyncio.Event(), worker.on_startup
    assert startup is not None

    async def on_startup(ctx: dict[str, Any]) -> None:  # arq's hook, chained: tells the test it is up
        await startup(ctx)
        started.set()

    worker.on_startup = on_startup
    runner = web.AppRunner(probes(context.metrics, worker))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as before:
                assert before.status == 503
            running = asyncio.get_running_loop().create_task(work(worker))
            await asyncio.wait_for(started.wait(), 30)
            assert working(worker)
            async with http.get(f"{base}/healthz") as ok:
                assert ok.status == 200 and (await ok.json())["status"] == "ok"
            text = await scrape(http, f"{base}/metrics")
            assert "lore_queue_depth 0.0" in text
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            async with http.get(f"{base}/healthz") as after:
                assert after.status == 503
    finally:
        await runner.cleanup()
        await store.close()


def test_label_values_are_slack_codes_or_other() -> None:
    assert code("chat.postMessage") == "chat.postMessage"
    assert code("not_allowed_token_type") == "not_allowed_token_type"
    assert code("How much are meals reimbursed?") == code(None) == code("x" * 65) == "other"
