"""The permission matrix in Slack: every surface against every kind of principal, with the text sent to the
LLM checked as well as what Slack shows. Each denied case has an allowed twin that does see the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from knowledge.audit import StoreAudit
from knowledge.jobs import JobRequest
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from tests.access_world import (
    ALLOWED,
    ANA,
    BOB,
    DENIED,
    DORA,
    GUS,
    HOOK,
    NOBODY,
    OLGA,
    QUESTION,
    REPLY,
    leaked,
    people,
    sent_to_llm,
    text_of,
    write_directory,
)
from tests.bot_harness import Bot, bot_harness, bot_settings, shown
from tests.llm_standin import MODEL, LLMStandin
from tests.slack_standin import SlackStandin

HUMANS = [u for u in (*ALLOWED, *DENIED) if u != HOOK]


@dataclass
class World:
    bot: Bot
    llm: LLMStandin
    directory: Path
    jobs: InlineJobs

    @property
    def slack(self) -> SlackStandin:
        return self.bot.slack

    def forget(self) -> None:
        """Forget what was sent so far (to Slack and to the LLM)."""
        self.slack.forget()
        self.llm.requests.clear()

    def revoke_dora(self) -> None:
        """Take Dora out of finance in the directory file (no restart)."""
        write_directory(self.directory, dora=False)


async def nothing(request: JobRequest) -> None:
    return None


class HeldSyncs:
    """Syncs that run until released: a sync of finance stays "running" while the matrix looks."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def sync(self, request: JobRequest) -> None:
        await self.release.wait()


async def world_of(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, tmp_path: Path, replies: list[str]
) -> AsyncIterator[World]:
    people(slack)
    for user in (DORA, GUS, OLGA, NOBODY, HOOK):
        slack.add_channel(f"D{user}", [user, slack.bot_user_id], is_im=True)
    directory = write_directory(tmp_path / "directory.yml")
    store = MemoryStore()
    registry = StoreRegistry(store)
    await registry.put(Source(id="handbook", location=["/srv/handbook"], access=["public"]))
    await registry.put(Source(id="finance", location=["/srv/finance"], access=["group:finance"]))
    held = HeldSyncs()
    jobs = InlineJobs(held.sync, nothing)
    async with LLMStandin(replies=list(replies)) as llm:
        tuned = bot_settings(
            settings,
            slack,
            directory_file=directory,
            llm_base_url=llm.base_url,
            llm_model=MODEL,
            rate_limit=0,
        )
        kb = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)  # answers with the LLM stand-in
        audit = StoreAudit(store)
        async with bot_harness(kb, [store], tuned, slack, registry=registry, audit=audit, jobs=jobs) as bot:
            yield World(bot, llm, directory, jobs)
        await kb.answerer.close()
    held.release.set()
    await jobs.close(5)


@pytest.fixture
async def world(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, tmp_path: Path
) -> AsyncIterator[World]:
    async for made in world_of(loaded_kb, settings, slack, tmp_path, [REPLY]):
        yield made


def seen(world: World) -> tuple[bool, bool]:
    """(Slack showed something of the finance page, the LLM was sent something of it)."""
    return leaked(shown(world.slack)), leaked(sent_to_llm(world.llm))


async def dm(world: World, user: str, text: str = QUESTION) -> str:
    """`user` asks in their DM; returns the thread, once answered."""
    ts = await world.bot.message(user, f"D{user}", text, channel_type="im")
    await world.bot.answer_in(f"D{user}", ts)
    return ts


# ----- DMs and the assistant pane: the asker's own access


@pytest.mark.parametrize("user", HUMANS)
async def test_dm(world: World, user: str) -> None:
    await dm(world, user)
    assert seen(world) == ((True, True) if user in ALLOWED else (False, False))


async def test_a_bot_gets_no_answer_at_all(world: World) -> None:
    await world.bot.event(
        {"type": "message", "user": HOOK, "bot_id": "BHOOK", "text": QUESTION, "channel": "DUHOOK",
         "channel_type": "im", "ts": "1600000000.000001", "event_ts": "1600000000.000001"}
    )  # fmt: skip
    await dm(world, ANA)  # an answer that does come shows the bot's message was delivered and dropped
    assert world.slack.messages("DUHOOK") == [] and len(world.llm.requests) == 1


@pytest.mark.parametrize("user", HUMANS)
async def test_assistant_pane(world: World, user: str) -> None:
    thread = world.bot.next_ts()
    started = {"user_id": user, "channel_id": f"D{user}", "thread_ts": thread, "context": {}}
    await world.bot.event(
        {"type": "assistant_thread_started", "assistant_thread": started, "event_ts": thread}
    )
    await world.slack.wait_for("assistant.threads.setSuggestedPrompts")
    await world.bot.message(user, f"D{user}", QUESTION, thread_ts=thread, channel_type="im")
    await world.bot.answer_in(f"D{user}", thread)
    assert seen(world) == ((True, True) if user in ALLOWED else (False, False))


# ----- channels: everyone who can read them


async def test_public_channel_of_finance_members_answers_from_public_only(world: World) -> None:
    world.slack.add_channel("CPUB", [ANA, DORA, world.slack.bot_user_id])
    ts = await world.bot.mention(ANA, "CPUB", QUESTION)
    await world.bot.answer_in("CPUB", ts)
    assert seen(world) == (False, False)
    [offer] = world.slack.calls_to("chat.postEphemeral")  # Ana may read more: she is offered it privately
    assert offer.args["user"] == ANA and "public channel" in offer.args["text"]


@pytest.mark.parametrize("kind", ["private", "group_dm"])
@pytest.mark.parametrize("other", [DORA, *DENIED])
async def test_private_conversation_holds_what_every_member_holds(
    world: World, kind: str, other: str
) -> None:
    members = [ANA, other, world.slack.bot_user_id]
    world.slack.add_channel("CPRIV", members, is_private=kind == "private", is_mpim=kind == "group_dm")
    ts = await world.bot.mention(ANA, "CPRIV", QUESTION)
    await world.bot.answer_in("CPRIV", ts)
    assert seen(world) == ((True, True) if other in ALLOWED else (False, False))


async def test_the_asker_who_may_not_read_it_never_gets_it_in_a_private_channel(world: World) -> None:
    world.slack.add_channel("CPRIV", [ANA, BOB, world.slack.bot_user_id], is_private=True)
    ts = await world.bot.mention(BOB, "CPRIV", QUESTION)
    await world.bot.answer_in("CPRIV", ts)
    assert seen(world) == (False, False) and world.slack.calls_to("chat.postEphemeral") == []


# ----- a member who is revoked, without a restart


async def test_revoked_member_in_a_dm(world: World) -> None:
    await dm(world, DORA)
    assert seen(world) == (True, True)
    world.forget()
    world.revoke_dora()
    await dm(world, DORA)
    assert seen(world) == (False, False)


async def test_revoked_member_in_a_private_channel(world: World) -> None:
    world.slack.add_channel("CPRIV", [ANA, DORA, world.slack.bot_user_id], is_private=True)
    ts = await world.bot.mention(ANA, "CPRIV", QUESTION)
    await world.bot.answer_in("CPRIV", ts)
    assert seen(world) == (True, True)
    world.forget()
    world.revoke_dora()
    ts = await world.bot.mention(ANA, "CPRIV", QUESTION)
    await world.bot.answer_in("CPRIV", ts)
    assert seen(world) == (False, False)


# ----- the private offer and its click


async def offer_to(world: World, user: str) -> dict[str, Any]:
    """`user` asks in a public channel; returns the button of the private offer they get."""
    world.slack.add_channel("CPUB", [ANA, BOB, DORA, world.slack.bot_user_id])
    ts = await world.bot.mention(user, "CPUB", QUESTION)
    await world.bot.answer_in("CPUB", ts)
    [offer] = world.slack.calls_to("chat.postEphemeral")
    assert not leaked(text_of(offer.args))  # the offer counts sources, it never names them
    button: dict[str, Any] = next(b for b in offer.args["blocks"] if b["type"] == "actions")["elements"][0]
    return button


async def private_answer(world: World, user: str) -> None:
    await world.slack.wait_until(lambda: bool(world.slack.messages(f"D{user}")), "the DM's first message")
    [header] = [m for m in world.slack.messages(f"D{user}") if m.thread_ts is None]
    await world.bot.answer_in(f"D{user}", header.ts)


async def test_the_private_offer_answers_its_asker_in_a_dm(world: World) -> None:
    button = await offer_to(world, ANA)
    assert seen(world) == (False, False)
    assert await world.bot.click(ANA, "CPUB", button) == 200
    await private_answer(world, ANA)
    assert seen(world) == (True, True)
    assert not any(leaked(text_of(m.blocks) + m.text) for m in world.slack.messages("CPUB"))


async def test_nobody_else_can_take_the_private_offer(world: World) -> None:
    button = await offer_to(world, ANA)
    assert await world.bot.click(BOB, "CPUB", button) == 200
    [refusal] = await world.slack.wait_for("response_url")
    assert "Only the person who asked" in refusal.args["text"]
    await world.bot.settle()
    assert world.slack.messages("DUBOB") == [] and seen(world) == (False, False)


async def test_a_member_revoked_before_the_click_gets_public_only(world: World) -> None:
    button = await offer_to(world, DORA)
    world.revoke_dora()
    assert await world.bot.click(DORA, "CPUB", button) == 200
    await private_answer(world, DORA)
    assert seen(world) == (False, False)


# ----- a thread whose readers change: its memory never carries text to wider eyes


@pytest.fixture
async def chatty(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, tmp_path: Path
) -> AsyncIterator[World]:
    """A world whose LLM's first answer quotes the finance page (as a real LLM would)."""
    replies = ["The Zorblax pool is 4 percent of payroll [1].", REPLY]
    async for made in world_of(loaded_kb, settings, slack, tmp_path, replies):
        yield made


async def ask_twice(world: World, channel: str, change: Any) -> str:
    """Ana's question and, after `change()`, her follow-up in the same thread; returns what the LLM was
    sent for the follow-up (its rewrite and its answer)."""
    ts = await world.bot.mention(ANA, channel, QUESTION)
    await world.bot.answer_in(channel, ts)
    before = len(world.llm.requests)
    change()
    await world.bot.message(ANA, channel, "And how is it paid out?", thread_ts=ts)
    await world.bot.answer_in(channel, ts, count=2)
    return text_of([r["messages"] for r in world.llm.requests[before:]])


def private_channel(world: World, *members: str) -> Any:
    return world.slack.add_channel("CPRIV", [*members, world.slack.bot_user_id], is_private=True)


async def test_a_thread_that_keeps_its_readers_keeps_its_memory(chatty: World) -> None:
    private_channel(chatty, ANA, DORA)
    assert "Zorblax" in await ask_twice(chatty, "CPRIV", lambda: None)  # the positive control


async def test_a_member_joining_drops_the_memory_written_for_fewer(chatty: World) -> None:
    channel = private_channel(chatty, ANA, DORA)
    assert "Zorblax" not in await ask_twice(chatty, "CPRIV", lambda: channel.members.append(BOB))


async def test_a_channel_made_public_drops_the_memory_written_for_its_members(chatty: World) -> None:
    channel = private_channel(chatty, ANA, DORA)
    assert "Zorblax" not in await ask_twice(chatty, "CPRIV", lambda: setattr(channel, "is_private", False))


async def test_a_member_leaving_between_two_questions_widens_the_next_answer(world: World) -> None:
    channel = private_channel(world, ANA, BOB)
    sent = await ask_twice(world, "CPRIV", lambda: channel.members.remove(BOB))
    assert not leaked(text_of([r["messages"] for r in world.llm.requests[:1]]))  # with Bob: public only
    assert leaked(sent)  # Bob left: Ana alone may read finance, and the thread may now use it


# ----- App Home and /lore sources: which sources someone may know of


async def home_of(world: World, user: str) -> str:
    count = len(world.slack.calls_to("views.publish")) + 1
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": "1.0"}
    assert await world.bot.event(event) == 200
    published = await world.slack.wait_for("views.publish", count)
    return text_of(published[-1].args["view"])


@pytest.mark.parametrize("user", HUMANS)
async def test_app_home_names_finance_only_to_its_readers(world: World, user: str) -> None:
    home = await home_of(world, user)
    assert "handbook" in home and ("*finance*" in home) == (user in ALLOWED)


@pytest.mark.parametrize("user", HUMANS)
async def test_lore_sources_names_finance_only_to_its_readers(world: World, user: str) -> None:
    [reply] = await world.bot.replies(await world.bot.command(user, "sources"))
    assert "handbook" in reply["text"] and ("finance" in reply["text"]) == (user in ALLOWED)


async def test_a_revoked_member_no_longer_sees_the_source(world: World) -> None:
    assert "*finance*" in await home_of(world, DORA)
    world.revoke_dora()
    assert "*finance*" not in await home_of(world, DORA)
    [reply] = await world.bot.replies(await world.bot.command(DORA, "sources"))
    assert "handbook" in reply["text"] and "finance" not in reply["text"]


@pytest.mark.parametrize("user", HUMANS)
async def test_lore_status_names_and_counts_finance_only_for_its_readers(world: World, user: str) -> None:
    for source in ("finance", "handbook"):  # finance runs (held), the handbook waits behind it
        assert await world.jobs.request_sync(JobRequest(source_id=source))
    [reply] = await world.bot.replies(await world.bot.command(user, "status"))
    if user in ALLOWED:
        assert "1 queued · running finance" in reply["text"] and "*finance*" in reply["text"]
    else:
        assert "1 queued · running nothing" in reply["text"] and "finance" not in reply["text"]
