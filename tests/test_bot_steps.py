"""The steps of an answer in Slack (task_update stream chunks), over real HTTP against the stand-in: what
they show, that they name only what the reply's readers may read, and the fallback where Slack refuses
them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from knowledge.kv.base import KeyValue
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, FINANCE_WORDS, Bot, bot_harness, bot_settings
from tests.llm_standin import LLMStandin
from tests.slack_standin import SlackStandin

PAYROLL = "When does payroll run each month?"


@pytest.fixture
async def bot(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Bot]:
    async with bot_harness(loaded_kb, [store], bot_settings(settings, slack), slack) as harness:
        yield harness


async def test_a_dm_answer_shows_its_search_and_writing_steps(bot: Bot) -> None:
    ts = await bot.message(ANA, "DUANA", PAYROLL, channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    search, write = reply.tasks["search"], reply.tasks["write"]
    assert (search["status"], write["status"]) == ("complete", "complete")
    assert search["title"].startswith("Found ") and "Payroll calendar" in search["details"]
    assert write["title"] == "Answer ready" and "25th" in reply.text  # then the answer itself
    assert "lookup" not in reply.tasks  # no LLM: no second search to plan
    [start] = bot.slack.calls_to("chat.startStream")
    assert start.args["chunks"][0]["title"] == "Searching what you may read…"


async def test_steps_in_a_channel_name_only_what_everyone_there_may_read(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", PAYROLL)  # Ana may read the payroll page; #general may not
    [reply] = await bot.answer_in("CGENERAL", ts)
    shown = str(reply.tasks)
    assert "everyone in this channel" in str(bot.slack.calls_to("chat.startStream")[0].args["chunks"])
    for secret in ("Payroll calendar", "payroll.md", "finance"):
        assert secret not in shown and secret not in reply.text


async def test_where_slack_refuses_the_steps_the_answer_streams_as_before(bot: Bot) -> None:
    bot.slack.fail("chat.startStream", "invalid_arguments", status=200, times=1)
    ts = await bot.message(ANA, "DUANA", PAYROLL, channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert reply.tasks == {} and "25th" in reply.text
    first, second = bot.slack.calls_to("chat.startStream")
    assert "chunks" in first.args and "chunks" not in second.args  # steps tried once, then plain text
    assert bot.slack.calls_to("assistant.threads.setStatus")  # the status text stays the sign of progress


MEALS = "How much are meals reimbursed on business trips?"
BONUS_PLAN = "finance team bonus pool"  # what the planner asks for: words of the finance-only page


@asynccontextmanager
async def planning(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> AsyncIterator[tuple[Bot, LLMStandin]]:
    """The bot with an LLM (the stand-in) whose plan after the first search is `BONUS_PLAN`; one source per
    first search, so that what the second adds shows."""
    async with LLMStandin(["Meals: up to 75 euros a day [1]."], plans=[BONUS_PLAN]) as llm:
        tuned = bot_settings(settings, slack, llm_base_url=llm.base_url, llm_retries=0, top_k=1)
        kb = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)
        async with bot_harness(kb, [MemoryStore()], tuned, slack) as bot:
            yield bot, llm
        await kb.answerer.close()


async def test_a_second_search_shows_what_it_looked_up_and_added(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with planning(loaded_kb, settings, slack) as (bot, llm):
        ts = await bot.message(ANA, "DUANA", MEALS, channel_type="im")
        [reply] = await bot.answer_in("DUANA", ts)
        prompt = json.dumps(llm.requests[-1]["messages"])
        counted = bot.runtimes[0].metrics.registry.get_sample_value(
            "lore_second_searches_total", {"outcome": "searched"}
        )
    assert counted == 1
    lookup = reply.tasks["lookup"]
    assert (lookup["status"], lookup["title"]) == ("complete", f"Looked up {BONUS_PLAN}")
    assert "Payroll calendar" in lookup["details"]  # Ana may read it: the plan reaches it for her
    assert "Zorblax" in prompt and "75 euros" in reply.text


async def test_a_second_search_in_a_channel_adds_only_what_everyone_there_may_read(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with planning(loaded_kb, settings, slack) as (bot, llm):
        ts = await bot.mention(ANA, "CGENERAL", MEALS)  # the same asker and plan, in a public channel
        [reply] = await bot.answer_in("CGENERAL", ts)
        prompt = json.dumps(llm.requests[-1]["messages"])
    assert reply.tasks["lookup"]["title"] == f"Looked up {BONUS_PLAN}"
    planned = json.dumps(llm.plan_requests)  # what the planner read: the first hits, as everyone may
    for secret in FINANCE_WORDS:
        assert secret not in str(reply.tasks) and secret not in reply.text
        assert secret not in prompt and secret not in planned
