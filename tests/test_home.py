"""Lore's App Home over real HTTP: admins see every source's health and can add one; everyone else sees
only the ids and last syncs of the sources they may read."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from knowledge.audit import StoreAudit
from knowledge.jobs import JobRequest
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, SourceStatus, StoreRegistry
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings, feedback_action
from tests.slack_standin import SlackStandin

CARL_ADMIN = "UCARL"
HANDBOOK = Source(id="handbook", location=["/srv/handbook"], access=["public"])
PAYROLL = Source(id="payroll", location=["/srv/payroll"], access=["group:finance"])
BUDGETS = Source(
    id="budgets", location=["/srv/budgets"], access=["group:board"], overrides={"q1": ["group:finance"]}
)
FAILED = SourceStatus(
    last_sync=time.time() - 600, ok=False, errors=["q3.xlsx: cannot parse the sheet"], failed=1
)


async def nothing(request: JobRequest) -> None:
    return None


@pytest.fixture
async def bot(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Bot]:
    registry = StoreRegistry(store)
    for source in (HANDBOOK, PAYROLL, BUDGETS):
        await registry.put(source)
    await registry.record("payroll", FAILED)
    await registry.record("handbook", SourceStatus(last_sync=time.time() - 120, ok=True, added=3, chunks=9))
    jobs = InlineJobs(nothing, nothing)
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN], files_roots=["/srv"])  # where /srv/wiki is
    async with bot_harness(
        loaded_kb, [store], tuned, slack, registry=registry, audit=StoreAudit(store), jobs=jobs
    ) as harness:
        yield harness
    await jobs.close(5)


async def home_of(bot: Bot, user: str) -> dict[str, Any]:
    """The Home view Lore publishes when `user` opens its Home tab."""
    count = len(bot.slack.calls_to("views.publish")) + 1
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": "1.0"}
    assert await bot.event(event) == 200
    published = (await bot.slack.wait_for("views.publish", count))[-1].args
    assert published["user_id"] == user
    view: dict[str, Any] = published["view"]
    return view


async def test_admins_see_every_source_with_its_health_paths_and_last_error(bot: Bot) -> None:
    shown = json.dumps(await home_of(bot, CARL_ADMIN))
    for text in ("handbook", "payroll", "budgets", "/srv/payroll", "cannot parse the sheet", "failed"):
        assert text in shown
    assert "last sync 2 min ago" in shown and "9 chunks" in shown and "lore_home_add" in shown


@pytest.mark.parametrize(
    ("user", "readable", "unreadable"),
    [(BOB, ["handbook"], ["payroll", "budgets"]), (ANA, ["handbook", "payroll", "budgets"], [])],
)
async def test_others_see_only_ids_and_last_syncs_of_what_they_may_read(
    bot: Bot, user: str, readable: list[str], unreadable: list[str]
) -> None:
    view = await home_of(bot, user)
    shown = json.dumps(view)
    assert "Mention me" in shown and "Sources you can read" in shown
    assert all(f"*{source}*" in shown for source in readable)
    assert not any(source in shown for source in unreadable)
    for private in ("/srv/", "cannot parse", "lore_home_add", "group:finance", "chunks"):
        assert private not in shown


async def test_the_add_button_opens_the_form_and_adding_redraws_the_home(bot: Bot) -> None:
    view = await home_of(bot, CARL_ADMIN)
    accessories = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id")]
    [button] = [a for a in accessories if a["action_id"] == "lore_home_add"]  # beside "Set up a channel"
    assert await bot.click_view(CARL_ADMIN, button) == 200
    [opened] = await bot.slack.wait_for("views.open")
    assert opened.args["trigger_id"] == "1.2.5"
    typed = {"source_id": "wiki", "location": "/srv/wiki", "access": "public"}
    status, body = await bot.submit_view(CARL_ADMIN, opened.args["view"], typed)
    assert status == 200 and body == {}
    published = await bot.slack.wait_for("views.publish", 2)
    assert "/srv/wiki" in json.dumps(published[-1].args["view"])


async def test_the_add_button_does_nothing_for_others(bot: Bot) -> None:
    button = {"type": "button", "action_id": "lore_home_add"}
    assert await bot.click_view(BOB, button) == 200
    await bot.slack.wait_for("views.publish")  # Bob's stale Home is redrawn, without the button
    assert bot.slack.calls_to("views.open") == []


@pytest.fixture
async def reviewed(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Bot]:
    """A bot whose admins are Carl (not in finance) and Ana (in finance), after three answers: Ana's 👎
    (outdated) on an answer from a finance page, Bob's 👍 on a public one, and a question nothing answered."""
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN, ANA])
    async with bot_harness(loaded_kb, [store], tuned, slack) as bot:
        acks: dict[str, dict[str, Any]] = {}
        for user, question, vote in (
            (ANA, "When does payroll run each month?", "down"),
            (BOB, "Where is travel booked?", "up"),
            (BOB, "What is the boiling point of mercury?", None),
        ):
            ts = await bot.message(user, f"D{user}", question, channel_type="im")
            [reply] = await bot.answer_in(f"D{user}", ts)
            if vote:
                calls = len(bot.slack.calls_to("response_url")) + 1
                pressed = feedback_action(reply.blocks, vote)
                assert await bot.click(user, f"D{user}", pressed, message_ts=reply.ts) == 200
                acks[user] = (await bot.slack.wait_for("response_url", calls))[-1].args
        reason = next(b for b in acks[ANA]["blocks"] if b["type"] == "actions")["elements"][1]  # "Outdated"
        calls = len(bot.slack.calls_to("response_url")) + 1
        assert await bot.click(ANA, f"D{ANA}", reason) == 200
        await bot.slack.wait_for("response_url", calls)
        yield bot


async def test_admins_review_feedback_and_see_only_sources_they_may_read(reviewed: Bot) -> None:
    carl = json.dumps(await home_of(reviewed, CARL_ADMIN), ensure_ascii=False)
    assert "Feedback, last 30 days" in carl and "👍 50% of 2 votes" in carl
    assert "When does payroll run each month?" in carl and "👎 1 (Outdated)" in carl
    assert "Not answered" in carl and "boiling point of mercury" in carl
    for secret in ("Payroll calendar", "payroll.md", "25th", "Zorblax"):
        assert secret not in carl  # Carl may not read the finance page: nothing of it
    ana = json.dumps(await home_of(reviewed, ANA), ensure_ascii=False)
    assert "Payroll calendar" in ana and "25th" in ana  # the control: Ana may read it, and sees it


async def test_people_who_are_not_admins_see_no_feedback(reviewed: Bot) -> None:
    assert "Feedback, last" not in json.dumps(await home_of(reviewed, BOB))
