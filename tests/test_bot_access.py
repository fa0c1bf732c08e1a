"""Who may see what in Slack: the channel's audience, DMs, the private offer, Slack Connect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, BOB, FINANCE_WORDS, Bot, bot_harness, bot_settings, shown
from tests.slack_standin import SlackStandin

QUESTION = "How big is the Zorblax bonus pool of the finance team?"


@pytest.fixture
async def bot(loaded_kb: Knowledge, settings: Settings, slack: SlackStandin) -> AsyncIterator[Bot]:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as harness:
        yield harness


def leaks(slack: SlackStandin) -> list[str]:
    sent = shown(slack)
    return [word for word in FINANCE_WORDS if word in sent]


async def test_channel_with_an_outsider_never_sees_finance_content(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", QUESTION)
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert leaks(bot.slack) == []
    assert "4 percent" not in reply.text


async def test_the_finance_member_gets_a_private_offer_without_names(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", QUESTION)
    await bot.answer_in("CGENERAL", ts)
    [offer] = bot.slack.calls_to("chat.postEphemeral")
    assert offer.args["user"] == ANA and offer.args["thread_ts"] == ts
    assert leaks(bot.slack) == []


async def test_the_private_offer_answers_in_a_dm(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", QUESTION)
    await bot.answer_in("CGENERAL", ts)
    [offer] = bot.slack.calls_to("chat.postEphemeral")
    button = next(b for b in offer.args["blocks"] if b["type"] == "actions")["elements"][0]
    assert await bot.click(ANA, "CGENERAL", button) == 200
    await bot.slack.wait_until(lambda: bool(bot.slack.messages("DUANA")), "the DM's first message")
    [header] = [m for m in bot.slack.messages("DUANA") if m.thread_ts is None]
    [reply] = await bot.answer_in("DUANA", header.ts)
    assert "4 percent" in reply.text
    assert bot.slack.calls_to("response_url")[0].args["text"].startswith("I'm answering")


async def test_someone_else_cannot_take_the_private_offer(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", QUESTION)
    await bot.answer_in("CGENERAL", ts)
    [offer] = bot.slack.calls_to("chat.postEphemeral")
    button = next(b for b in offer.args["blocks"] if b["type"] == "actions")["elements"][0]
    assert await bot.click(BOB, "CGENERAL", button) == 200
    [refusal] = await bot.slack.wait_for("response_url")
    assert "Only the person who asked" in refusal.args["text"]
    await bot.settle()
    assert bot.slack.messages("DUBOB") == [] and leaks(bot.slack) == []


async def test_the_finance_members_dm_does_see_it(bot: Bot) -> None:
    ts = await bot.message(ANA, "DUANA", QUESTION, channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert "4 percent" in reply.text and "Payroll calendar" in str(reply.blocks)


async def test_an_outsiders_dm_does_not(bot: Bot) -> None:
    ts = await bot.message(BOB, "DUBOB", QUESTION, channel_type="im")
    await bot.answer_in("DUBOB", ts)
    assert leaks(bot.slack) == []


async def test_a_private_channel_of_finance_members_sees_it(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CFINANCE", QUESTION)
    [reply] = await bot.answer_in("CFINANCE", ts)
    assert "4 percent" in reply.text
    assert bot.slack.calls_to("chat.postEphemeral") == []


async def test_slack_connect_channels_get_public_content_only(bot: Bot) -> None:
    bot.slack.add_channel("CSHARED", [ANA, bot.slack.bot_user_id], is_ext_shared=True)
    ts = await bot.mention(ANA, "CSHARED", QUESTION)
    await bot.answer_in("CSHARED", ts)
    assert leaks(bot.slack) == []


async def test_a_guest_in_the_channel_limits_it_to_public(bot: Bot) -> None:
    bot.slack.add_user("UGUEST", "guest@partner.example", is_restricted=True)
    bot.slack.usergroups["S1"].users.append("UGUEST")  # the very group that would leak
    bot.slack.add_channel("CMIXED", [ANA, "UGUEST", bot.slack.bot_user_id], is_private=True)
    ts = await bot.mention(ANA, "CMIXED", QUESTION)
    await bot.answer_in("CMIXED", ts)
    assert leaks(bot.slack) == []


async def test_a_public_channel_of_finance_members_never_sees_finance_content(bot: Bot) -> None:
    bot.slack.add_channel("CFINPUB", [ANA, bot.slack.bot_user_id])
    ts = await bot.mention(ANA, "CFINPUB", QUESTION)
    [reply] = await bot.answer_in("CFINPUB", ts)
    assert leaks(bot.slack) == [] and "4 percent" not in reply.text
