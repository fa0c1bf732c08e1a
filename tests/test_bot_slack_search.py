"""Slack itself as a source (the Real-time Search API, against the stand-in over HTTP): as the asker in a
DM (messages and files), public-channel messages only in a public channel of full members (never files:
a file result names no channel), nothing elsewhere or when off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_search import FILE_TOKENS, SlackSearch
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.tokens import count_tokens
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

LAUNCH = "When is the Gizmo launch?"
BUDGET = "How big is the Gizmo budget?"
PRICE = "What is the Gizmo retail price?"
PRICE_LIST = ("Gizmo price list", "The Gizmo retail price is 49 euros per seat.")


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


async def test_a_dm_answer_cites_a_slack_file_the_asker_may_read(bot: Bot) -> None:
    bot.slack.add_file(*PRICE_LIST, channels=["CFINANCE"], user=ANA)
    ts = await bot.message(ANA, "DUANA", PRICE, channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert "49 euros" in reply.text
    assert "Gizmo price list" in str(reply.blocks) and "https://standin.slack.com/files/UANA/F000001/" in str(
        reply.blocks
    )  # cited with its title and permalink
    [search] = searches(bot)
    assert search["content_types"] == "messages,files"


@pytest.mark.parametrize("shared_in", ["CFINANCE", "CGENERAL"])
async def test_no_file_in_a_channel_answer_as_nothing_says_whether_it_is_public(
    bot: Bot, shared_in: str
) -> None:
    bot.slack.add_file(*PRICE_LIST, channels=[shared_in], user=ANA)  # the stand-in would return it to Ana
    ts = await bot.mention(ANA, "CGENERAL", PRICE)
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert "49 euros" not in reply.text and "/files/" not in str(reply.blocks)
    assert [s["content_types"] for s in searches(bot)] == ["messages"]


async def test_a_malformed_file_result_is_skipped_and_the_rest_kept(bot: Bot) -> None:
    link = "https://standin.slack.com/files/UBOB/F7/"
    bot.slack.raw_file_results += [
        "not an object",
        {"file_id": "F7", "title": "Broken", "content": ["Gizmo"], "permalink": link},
        {"file_id": "F8", "title": "No link", "content": "The Gizmo launch moved to Friday."},
        {
            "file_id": "F9",
            "title": "Bad link",
            "content": "Gizmo launch: Friday.",
            "permalink": "javascript:x",
        },
    ]
    ts = await bot.message(ANA, "DUANA", LAUNCH, channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert "Thursday" in reply.text and "https://standin.slack.com/archives/CGENERAL/" in str(reply.blocks)
    assert "Friday" not in reply.text
    assert not [title for title in ("Broken", "No link", "Bad link") if title in str(reply.blocks)]


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


async def test_a_long_file_is_cut_to_about_one_window(slack: SlackStandin) -> None:
    content = "The Gizmo handbook. " + "Every chapter explains one more part. " * 400
    slack.add_file("Gizmo handbook", content, channels=[], user=ANA)  # Ana uploaded it
    client = AsyncWebClient(base_url=slack.api_url, token="xoxb-test")
    [hit] = await SlackSearch(client).hits("Gizmo handbook", slack.action_token(ANA), "asker")
    assert hit.chunk.text.startswith("The Gizmo handbook.")
    assert count_tokens(hit.chunk.text) <= FILE_TOKENS < count_tokens(content)
