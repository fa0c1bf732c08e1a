"""Sharing a private answer into its channel (over real HTTP): only what everyone there may read, checked
when the button is pressed; otherwise the asker is told why and may share the public part."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from bot.feedback import AnswerRecord, CitedSource
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import ANA, BOB, FINANCE_WORDS, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

QUESTION = "How big is the Zorblax bonus pool of the finance team?"
TRAVEL = CitedSource(
    n=1, source="handbook", doc_id="expenses.md", title="Expenses", url="https://wiki/expenses"
)


@pytest.fixture
async def bot(loaded_kb: Knowledge, settings: Settings, slack: SlackStandin) -> AsyncIterator[Bot]:
    async with bot_harness(loaded_kb, [MemoryStore()], bot_settings(settings, slack), slack) as harness:
        yield harness


def in_general(bot: Bot) -> str:
    return " ".join(m.text + json.dumps(m.blocks or []) for m in bot.slack.messages("CGENERAL"))


async def private_answer(bot: Bot) -> list[dict[str, object]]:
    """Ana's question in #general, answered privately in her DM from the offer; the DM answer's blocks."""
    ts = await bot.mention(ANA, "CGENERAL", QUESTION)
    await bot.answer_in("CGENERAL", ts)
    [offer] = bot.slack.calls_to("chat.postEphemeral")
    button = next(b for b in offer.args["blocks"] if b["type"] == "actions")["elements"][0]
    assert await bot.click(ANA, "CGENERAL", button) == 200
    await bot.slack.wait_until(lambda: bool(bot.slack.messages("DUANA")), "the DM's first message")
    [header] = [m for m in bot.slack.messages("DUANA") if m.thread_ts is None]
    [reply] = await bot.answer_in("DUANA", header.ts)
    assert "4 percent" in reply.text
    return reply.blocks or []


def share_button(blocks: list[dict[str, object]]) -> dict[str, object]:
    block = next(b for b in blocks if b.get("block_id") == "lore_share")
    return block["elements"][0]  # type: ignore[index,no-any-return]


async def test_an_answer_citing_what_the_channel_may_not_read_is_not_shared(bot: Bot) -> None:
    button = share_button(await private_answer(bot))
    calls = len(bot.slack.calls_to("response_url"))
    assert await bot.click(ANA, "DUANA", button) == 200
    refusal = (await bot.slack.wait_for("response_url", calls + 1))[-1].args
    assert "can't share this whole answer in <#CGENERAL>" in refusal["text"]
    part = next(b for b in refusal["blocks"] if b["type"] == "actions")["elements"][0]
    assert await bot.click(ANA, "DUANA", part) == 200
    told = (await bot.slack.wait_for("response_url", calls + 2))[-1].args
    assert "Nothing of this answer" in told["text"] or "Shared in" in told["text"]
    assert [w for w in FINANCE_WORDS if w in in_general(bot)] == [] and "4 percent" not in in_general(bot)


async def test_someone_else_cannot_share_it(bot: Bot) -> None:
    button = share_button(await private_answer(bot))
    calls = len(bot.slack.calls_to("response_url"))
    assert await bot.click(BOB, "DUANA", button) == 200
    told = (await bot.slack.wait_for("response_url", calls + 1))[-1].args
    assert "Only the person who asked" in told["text"]


async def remembered(bot: Bot, answer: str, citations: list[CitedSource]) -> str:
    """A private answer to Ana's question in #general, as Lore keeps it (what the share button reads)."""
    record = AnswerRecord(
        answer_id="a1",
        team="T1",
        channel="DUANA",
        thread_ts="1.1",
        user=ANA,
        question="Where is travel booked?",
        standalone="Where is travel booked?",
        answer=answer,
        mode="extractive",
        citations=citations,
        at=time.time(),
        share_to="CGENERAL",
        share_thread="1.0",
    )
    await bot.runtimes[0].feedback.remember(record)
    return record.answer_id


async def test_an_answer_the_channel_may_read_is_shared_and_rechecked_at_the_click(
    bot: Bot, loaded_kb: Knowledge
) -> None:
    answer_id = await remembered(bot, "Travel is booked through Navan [1].", [TRAVEL])
    share = {"type": "button", "action_id": "lore_share", "value": answer_id}
    assert await bot.click(ANA, "DUANA", share) == 200
    told = (await bot.slack.wait_for("response_url"))[-1].args
    assert told["text"] == "Shared in <#CGENERAL>."
    [shared] = bot.slack.messages("CGENERAL")
    assert shared.thread_ts == "1.0" and "Navan" in shared.text and "https://wiki/expenses" in shared.text
    await loaded_kb.index.update_acl("handbook", "expenses.md", ["group:finance"])  # narrowed since
    assert await bot.click(ANA, "DUANA", share) == 200
    told = (await bot.slack.wait_for("response_url", 2))[-1].args
    assert "can't share this whole answer" in told["text"] and len(bot.slack.messages("CGENERAL")) == 1


async def test_the_public_part_keeps_only_sentences_citing_what_everyone_may_read(bot: Bot) -> None:
    secret = CitedSource(
        n=2, source="finance", doc_id="payroll.md", title="Payroll calendar", url="https://wiki/p"
    )
    text = "Travel is booked through Navan [1]. The Zorblax pool is 4 percent [2]. Both apply [1][2]."
    answer_id = await remembered(bot, text, [TRAVEL, secret])
    part = {"type": "button", "action_id": "lore_share_part", "value": answer_id}
    assert await bot.click(ANA, "DUANA", part) == 200
    await bot.slack.wait_for("response_url")
    [shared] = bot.slack.messages("CGENERAL")
    assert "Navan" in shared.text and "[1]" in shared.text
    for hidden in ("Zorblax", "4 percent", "Both apply", "Payroll calendar", "https://wiki/p"):
        assert hidden not in shared.text + json.dumps(shared.blocks)
