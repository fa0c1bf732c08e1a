"""Lore answers in Slack: mentions, DMs, the assistant pane, follow-ups, feedback (over real HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings, feedback_action, shown
from tests.slack_standin import SlackStandin


@pytest.fixture
async def bot(
    loaded_kb: Knowledge,
    store: KeyValue,
    settings: Settings,
    slack: SlackStandin,
) -> AsyncIterator[Bot]:
    async with bot_harness(loaded_kb, [store], bot_settings(settings, slack), slack) as harness:
        yield harness


def citations_of(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def test_mention_gets_a_cited_answer_in_its_thread(bot: Bot) -> None:
    ts = await bot.mention(BOB, "CGENERAL", "How much are meals reimbursed on business trips?")
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert reply.thread_ts == ts
    assert "75 euros" in reply.text and "[1]" in reply.text
    assert "expenses.md" in citations_of(reply.blocks or []) or "Expenses" in citations_of(reply.blocks or [])
    start = bot.slack.calls_to("chat.startStream")[0].args
    assert (
        start["thread_ts"] == ts and start["recipient_user_id"] == BOB and start["recipient_team_id"] == "T1"
    )


async def test_dm_is_answered_in_the_dm(bot: Bot) -> None:
    ts = await bot.message(ANA, "DUANA", "How many days of paid holiday do we get?", channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    assert "25 days" in reply.text
    assert "recipient_user_id" not in bot.slack.calls_to("chat.startStream")[0].args


async def test_assistant_pane_greets_shows_status_and_answers(bot: Bot) -> None:
    thread = bot.next_ts()
    started = {
        "type": "assistant_thread_started",
        "assistant_thread": {"user_id": ANA, "channel_id": "DUANA", "thread_ts": thread, "context": {}},
        "event_ts": thread,
    }
    assert await bot.event(started) == 200
    [prompts] = await bot.slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert prompts.args["thread_ts"] == thread and prompts.args["prompts"]
    greeting = bot.slack.calls_to("chat.postMessage")[0].args
    assert greeting["thread_ts"] == thread and "Lore" in greeting["text"]

    ts = await bot.message(ANA, "DUANA", "Where is travel booked?", thread_ts=thread, channel_type="im")
    [reply] = [m for m in await bot.answer_in("DUANA", thread) if m.ts != greeting.get("ts")]
    assert "Navan" in reply.text
    status = bot.slack.calls_to("assistant.threads.setStatus")[0]
    assert status.args["thread_ts"] == thread and "Searching" in status.args["status"]
    assert status.at <= bot.slack.calls_to("chat.startStream")[0].at
    assert bot.slack.calls_to("assistant.threads.setTitle")[0].args["title"] == "Where is travel booked?"
    assert ts != thread


async def test_follow_up_in_the_thread_needs_no_mention_and_uses_history(bot: Bot) -> None:
    ts = await bot.mention(BOB, "CGENERAL", "How much are hotels reimbursed on business trips?")
    await bot.answer_in("CGENERAL", ts)
    await bot.message(BOB, "CGENERAL", "And what about meals?", thread_ts=ts)
    first, second = await bot.answer_in("CGENERAL", ts, count=2)
    assert "200 euros" in first.text and "75 euros" in second.text


async def test_thread_replies_elsewhere_are_not_answered(bot: Bot) -> None:
    await bot.message(BOB, "CGENERAL", "And what about meals?", thread_ts="1599999999.000001")
    ts = await bot.mention(BOB, "CGENERAL", "How much are hotels reimbursed?")
    await bot.answer_in("CGENERAL", ts)
    await bot.message(BOB, "CGENERAL", f"<@{ANA}> can you check the hotel?", thread_ts=ts)
    await bot.settle()
    assert len(bot.slack.calls_to("chat.startStream")) == 1


async def test_lore_ignores_its_own_messages_and_other_bots(bot: Bot) -> None:
    own = {
        "type": "message",
        "user": "UBOT",
        "bot_id": "BBOT",
        "text": "Travel is booked in Navan [1]",
        "ts": bot.next_ts(),
        "channel": "DUANA",
        "channel_type": "im",
    }
    other = {**own, "user": "UOTHER", "bot_id": "BOTHER", "ts": bot.next_ts()}
    mention_by_bot = {
        "type": "app_mention",
        "user": "UOTHER",
        "bot_id": "BOTHER",
        "ts": bot.next_ts(),
        "text": "<@UBOT> where is travel booked?",
        "channel": "CGENERAL",
    }
    for event in (own, other, mention_by_bot):
        assert await bot.event(event) == 200
    await bot.settle()
    posting = ("chat.startStream", "chat.postMessage", "chat.postEphemeral", "assistant.threads.setStatus")
    assert [c.method for c in bot.slack.calls if c.method in posting] == []


async def test_feedback_is_recorded_with_the_question_and_acknowledged(bot: Bot, store: KeyValue) -> None:
    ts = await bot.message(ANA, "DUANA", "Where is travel booked?", channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    down = feedback_action(reply.blocks, "down")
    answer_id = down["value"].removeprefix("down:")
    assert await bot.click(ANA, "DUANA", down, message_ts=reply.ts) == 200
    [ack] = await bot.slack.wait_for("response_url")
    assert ack.args["response_type"] == "ephemeral" and "👎" in ack.args["text"]
    [vote] = await bot.runtimes[0].feedback.votes(answer_id)
    assert vote.vote == "down" and vote.user == ANA and vote.reason is None
    assert vote.question == "Where is travel booked?" and "Navan" in vote.answer
    assert vote.citations and vote.citations[0].doc_id == "expenses.md"
    reasons = next(b for b in ack.args["blocks"] if b["type"] == "actions")["elements"]
    assert [r["text"]["text"] for r in reasons] == ["Wrong", "Outdated", "Didn't find it", "Other"]
    assert await bot.click(ANA, "DUANA", reasons[1]) == 200  # an optional reason
    [_, noted] = await bot.slack.wait_for("response_url", 2)
    assert "Outdated" in noted.args["text"] and noted.args["replace_original"] in (True, "true")
    [vote] = await bot.runtimes[0].feedback.votes(answer_id)
    assert (vote.vote, vote.reason) == ("down", "outdated")
    assert await bot.click(ANA, "DUANA", feedback_action(reply.blocks, "up"), message_ts=reply.ts) == 200
    await bot.slack.wait_for("response_url", 3)
    [vote] = await bot.runtimes[0].feedback.votes(answer_id)
    assert vote.vote == "up"  # a second click changes the vote: the last one counts


async def test_where_slack_refuses_its_feedback_buttons_plain_ones_are_sent(bot: Bot) -> None:
    bot.slack.fail("chat.stopStream", "invalid_blocks", status=200, times=1)
    ts = await bot.message(ANA, "DUANA", "Where is travel booked?", channel_type="im")
    [reply] = await bot.answer_in("DUANA", ts)
    buttons = next(b for b in reply.blocks or [] if b.get("block_id") == "lore_feedback")
    assert buttons["type"] == "actions" and len(bot.slack.calls_to("chat.stopStream")) == 2
    assert await bot.click(ANA, "DUANA", buttons["elements"][0], message_ts=reply.ts) == 200
    [ack] = await bot.slack.wait_for("response_url")
    assert "👍" in ack.args["text"]
    [vote] = await bot.runtimes[0].feedback.votes(buttons["elements"][0]["value"])
    assert vote.vote == "up"


async def test_document_text_can_never_ping_or_disguise_links(bot: Bot) -> None:
    ts = await bot.mention(BOB, "CGENERAL", "How is the office party announced?")
    await bot.answer_in("CGENERAL", ts)
    sent = shown(bot.slack)
    assert "announcements.md" in sent or "Announcements" in sent
    for raw in ("<!channel>", "<@U999>", "<https://evil.example/steal|", "@here", "@channel"):
        assert raw not in sent
    for call in bot.slack.calls_to("chat.postMessage") + bot.slack.calls_to("chat.update"):
        assert call.args.get("unfurl_links") in (None, False, "false", "0")


async def test_app_home_shows_how_to_ask(bot: Bot) -> None:
    home = {"type": "app_home_opened", "user": BOB, "channel": "DUBOB", "tab": "home", "event_ts": "1.0"}
    assert await bot.event(home) == 200
    [published] = await bot.slack.wait_for("views.publish")
    assert published.args["user_id"] == BOB and "Mention me" in json.dumps(published.args["view"])
    assert await bot.event({**home, "tab": "messages"}) == 200
    await bot.settle()
    assert len(bot.slack.calls_to("views.publish")) == 1


async def test_the_lore_command_explains_itself(bot: Bot) -> None:
    for text in ("help", ""):
        [reply] = await bot.replies(await bot.command(BOB, text))
        assert reply["response_type"] == "ephemeral"
        assert "Mention me" in reply["text"] and "`/lore sources`" in reply["text"]
