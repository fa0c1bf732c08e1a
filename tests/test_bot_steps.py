"""The steps of an answer in Slack (task_update stream chunks), over real HTTP against the stand-in: what
they show, that they name only what the reply's readers may read, and the fallback where Slack refuses
them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, Bot, bot_harness, bot_settings
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
