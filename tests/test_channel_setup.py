"""Per-channel setup (`/lore channel …`), over real HTTP: kept (files or Redis) and audited, admins only;
a channel answers from its sources only, every question when set so, privately when set so (with the
share check), and with its preset in the LLM's instructions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knowledge.audit import StoreAudit
from knowledge.channels import ChannelSetup, FileChannelSetups, StoreChannelSetups
from knowledge.jobs import JobRequest
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.base import KeyValue
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings
from tests.llm_standin import LLMStandin
from tests.slack_standin import SlackStandin

CARL = "UCARL"
BONUS = "How big is the Zorblax bonus pool of the finance team?"


@pytest.mark.parametrize("backend", ["file", "store"])
async def test_setups_are_kept_and_a_default_one_is_not(backend: str, tmp_path: Path) -> None:
    setups = (
        FileChannelSetups(tmp_path / "channels.json")
        if backend == "file"
        else StoreChannelSetups(MemoryStore())
    )
    await setups.put(ChannelSetup(channel="CSUPPORT", sources=["support"], private=True))
    await setups.put(ChannelSetup(channel="CDEV", answers="questions"))
    assert (await setups.get("CSUPPORT")) == ChannelSetup(
        channel="CSUPPORT", sources=["support"], private=True
    )
    await setups.put(ChannelSetup(channel="CDEV"))  # back to the default: forgotten
    assert [s.channel for s in await setups.all()] == ["CSUPPORT"] and await setups.get("CDEV") is None


async def nothing(request: JobRequest) -> None:
    return None


@pytest.fixture
async def bot(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Bot]:
    registry = StoreRegistry(store)
    for source in ("handbook", "finance"):
        await registry.put(Source(id=source, location=[f"/srv/{source}"], access=["public"]))
    jobs = InlineJobs(nothing, nothing)
    tuned = bot_settings(settings, slack, admins=[CARL])
    async with bot_harness(
        loaded_kb, [store], tuned, slack, registry=registry, audit=StoreAudit(store), jobs=jobs
    ) as harness:
        yield harness
    await jobs.close(5)


async def setup(bot: Bot, text: str, channel: str, user: str = CARL) -> str:
    [reply] = await bot.replies(await bot.command(user, f"channel {text}".strip(), channel=channel))
    return str(reply["text"])


async def test_only_admins_set_up_a_channel_in_the_channel_and_it_is_audited(
    bot: Bot, store: KeyValue
) -> None:
    assert "Only Lore admins" in await setup(
        bot, "private on", "CGENERAL", user=BOB
    ) or "admin" in await setup(bot, "private on", "CGENERAL", user=BOB)
    assert "in the channel" in await setup(bot, "private on", "DUCARL")
    assert "No source named nope" in await setup(bot, "sources nope", "CGENERAL")
    said = await setup(bot, "sources handbook", "CGENERAL")
    assert said.startswith("Saved.") and "*handbook*" in said
    [entry] = [e for e in await StoreAudit(store).latest(10) if e.action == "channel"]
    assert (entry.who, entry.target, entry.detail) == (CARL, "CGENERAL", "sources handbook")
    [listed] = await bot.replies(await bot.command(CARL, "sources"))
    assert "Channel setups" in listed["text"] and "<#CGENERAL> answers from *handbook*" in listed["text"]


async def test_a_channel_answers_only_from_its_sources(bot: Bot) -> None:
    ts = await bot.mention(ANA, "CFINANCE", BONUS)  # the control: #finance may read the finance page
    [reply] = await bot.answer_in("CFINANCE", ts)
    assert "4 percent" in reply.text
    await setup(bot, "sources handbook", "CFINANCE")
    ts = await bot.mention(ANA, "CFINANCE", BONUS)
    [reply] = await bot.answer_in("CFINANCE", ts)
    assert "4 percent" not in reply.text and "payroll" not in json.dumps(reply.blocks).lower()


async def test_a_channel_set_to_answer_every_question_does(bot: Bot) -> None:
    ts = await bot.message(BOB, "CGENERAL", "Where is travel booked?")
    await bot.settle()
    assert bot.slack.replies_in("CGENERAL", ts) == []  # the control: without a setup, only mentions
    await setup(bot, "answers questions", "CGENERAL")
    await bot.message(BOB, "CGENERAL", "Travel is fun.")  # not a question
    ts = await bot.message(BOB, "CGENERAL", "Where is travel booked?")
    [reply] = await bot.answer_in("CGENERAL", ts)
    assert "Navan" in reply.text
    assert len([m for m in bot.slack.messages("CGENERAL") if m.user == "UBOT"]) == 1


async def test_private_answers_go_to_the_asker_only_and_share_only_what_everyone_may_read(bot: Bot) -> None:
    await setup(bot, "private on", "CGENERAL")
    ts = await bot.mention(ANA, "CGENERAL", BONUS)

    def answers() -> list[object]:
        return [c for c in bot.slack.calls_to("chat.postEphemeral") if c.args.get("blocks")]

    await bot.slack.wait_until(lambda: bool(answers()), "the private answer")
    await bot.settle()
    [answer] = answers()
    assert answer.args["user"] == ANA and "4 percent" in json.dumps(answer.args["blocks"])  # Ana's own access
    await bot.settle()
    assert "4 percent" not in " ".join(
        m.text + json.dumps(m.blocks or []) for m in bot.slack.messages("CGENERAL")
    )
    share = next(b for b in answer.args["blocks"] if b.get("block_id") == "lore_share")["elements"][0]
    assert await bot.click(ANA, "CGENERAL", share) == 200
    [_, told] = await bot.slack.wait_for("response_url", 2)  # after the reply to `/lore channel`
    assert "can't share this whole answer in <#CGENERAL>" in told.args["text"]
    assert bot.slack.replies_in("CGENERAL", ts) == []


async def test_the_preset_reaches_the_llm_after_the_rules(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> None:
    async with LLMStandin(replies=["Travel is booked through Navan [1]."]) as llm:
        tuned = bot_settings(settings, slack, admins=[CARL], llm_base_url=llm.base_url)
        with_llm = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)
        registry = StoreRegistry(store)
        jobs = InlineJobs(nothing, nothing)
        async with bot_harness(
            with_llm, [store], tuned, slack, registry=registry, audit=StoreAudit(store), jobs=jobs
        ) as bot:
            await setup(bot, "preset Answer in French, briefly.", "CGENERAL")
            ts = await bot.mention(BOB, "CGENERAL", "Where is travel booked?")
            await bot.answer_in("CGENERAL", ts)
        await jobs.close(5)
        await with_llm.answerer.close()
    system = llm.requests[-1]["messages"][0]["content"]
    assert system.endswith("Answer in French, briefly.") and system.index("cite") < system.index("French")


async def test_admins_set_up_a_channel_from_the_app_home(bot: Bot, store: KeyValue) -> None:
    home = {"type": "app_home_opened", "user": CARL, "channel": "DUCARL", "tab": "home", "event_ts": "1.0"}
    assert await bot.event(home) == 200
    [published] = await bot.slack.wait_for("views.publish")
    assert "Channel setups" in json.dumps(published.args["view"])
    button = {"type": "button", "action_id": "lore_home_channel", "value": "channel"}
    assert await bot.click_view(CARL, button) == 200
    [opened] = await bot.slack.wait_for("views.open")
    form = opened.args["view"]
    typed = {"channel": "CGENERAL", "sources": "nope", "answers": "questions", "private": "on", "preset": ""}
    status, refused = await bot.submit_view(CARL, form, {**typed, "sources": "handbook,nope"})
    assert status == 200 and refused == {}  # an unknown source cannot be picked: only listed ones are sent
    saved = await bot.runtimes[0].answering.channels.get("CGENERAL")
    assert saved is not None and (saved.sources, saved.answers, saved.private) == (
        ["handbook"],
        "questions",
        True,
    )
    assert form["callback_id"] == "lore_channel_setup" and any(
        e.action == "channel" and e.who == CARL for e in await StoreAudit(store).latest(5)
    )
    status, refused = await bot.submit_view(BOB, form, typed)  # not an admin
    assert refused.get("errors", {}).get("channel") == "Only Lore admins set up channels."
