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
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings
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
    [button] = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id")]
    assert await bot.click_view(CARL_ADMIN, button) == 200
    [opened] = await bot.slack.wait_for("views.open")
    assert opened.args["trigger_id"] == "1.2.5"
    typed = {"source_id": "wiki", "location": "/srv/wiki", "access": "public"}
    status, body = await bot.submit_view(CARL_ADMIN, opened.args["view"], typed)
    assert status == 200 and body == {}
    published = await bot.slack.wait_for("views.publish", 2)
    assert "/srv/wiki" in json.dumps(published[-1].args["view"])


async def test_the_add_button_does_nothing_for_others(bot: Bot) -> None:
    button = {"type": "button", "action_id": "lore_home_add", "value": "files"}
    assert await bot.click_view(BOB, button) == 200
    await bot.slack.wait_for("views.publish")  # Bob's stale Home is redrawn, without the button
    assert bot.slack.calls_to("views.open") == []
