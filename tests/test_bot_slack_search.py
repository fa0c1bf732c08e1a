"""Slack itself as a source (the Real-time Search API, against the stand-in over HTTP): as the asker in a
DM, public-channel messages only in a public channel of full members, nothing elsewhere or when off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

LAUNCH = "When is the Gizmo launch?"
BUDGET = "How big is the Gizmo budget?"


@pytest.fixture
async def bot(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Bot]:
    slack.add_user("UGUEST", "guest@partner.example", is_restricted=True)
    slack.add_channel("CGUESTS", [ANA, "UGUEST", slack.bot_user_id], name="with-guests")
    slack.add_message("CGENERAL", "Heads up: the Gizmo launch moved to Thursday.", user=BOB)
    slack.add_message("CFINANCE", "The Gizmo budget is 12 million euros.", user=ANA)
    async with bot_harness(
        loaded_kb, [store], bot_settings(settings, slack, search_slack=True), slack
    ) as harness:
        yield harness


def searches(bot: Bot) -> list[dict[str, object]]:
    return [c.args for c in bot.slack.calls_to("assistant.search.context")]


async def test_a_dm_answer_cites_slack_messages_the_asker_may_read(bot: Bot) -> None:
    for question, said in (
        (LAUNCH, "Thursday"),
        (BUDGET, "12 million"),
    ):  # public, then Ana's private channel
        ts = await bot.message(ANA, "DUANA", question, channel_type="im")
        [reply] = await bot.answer_in("DUANA", ts)
        assert said in reply.text and "https://standin.slack.com/archives/" in str(reply.blocks)
    [first, _] = searches(bot)
    assert first["channel_types"] == "public_channel,private_channel,mpim,im"
    assert bot.slack.action_tokens[str(first["action_token"])] == ANA  # searched as the asker


async def test_a_public_channel_of_full_members_draws_only_on_public_channels(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CGENERAL", LAUNCH)
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert "Thursday" in reply.text  # the control: a public channel's message is used
    ts = await bot.mention(ANA, "CGENERAL", BUDGET)  # Ana may read #finance; #general's readers may not
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert "12 million" not in reply.text and "CFINANCE" not in str(reply.blocks)
    assert {str(s["channel_types"]) for s in searches(bot)} == {"public_channel"}


@pytest.mark.parametrize("channel", ["CGUESTS", "CFINANCE"])
async def test_slack_is_not_searched_where_a_reader_could_not_open_what_it_finds(
    bot: Bot, channel: str
) -> None:
    ts = await bot.mention(ANA, channel, LAUNCH)  # a guest in a public channel; a private channel
    [reply] = await bot.answer_in(channel, ts)
    assert searches(bot) == [] and "Thursday" not in reply.text


async def test_a_refused_search_answers_from_the_indexed_sources(bot: Bot) -> None:
    bot.slack.fail("assistant.search.context", "invalid_action_token", status=200, times=1)
    ts = await bot.message(ANA, "DUANA", "Where is travel booked?", channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert "Navan" in reply.text and len(searches(bot)) == 1


async def test_off_unless_an_admin_turns_it_on(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> None:
    slack.add_message("CGENERAL", "Heads up: the Gizmo launch moved to Thursday.", user=BOB)
    async with bot_harness(loaded_kb, [store], bot_settings(settings, slack), slack) as bot:
        ts = await bot.message(ANA, "DUANA", LAUNCH, channel_type="im")
        [reply] = await bot.answer_in("DUANA", ts)
    assert searches(bot) == [] and "Thursday" not in reply.text
