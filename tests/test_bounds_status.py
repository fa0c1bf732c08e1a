"""`/lore status` names no source and counts no job that the viewer may not read: the finance team's
syncs are invisible to others, not even counted; they and admins see them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from knowledge.jobs import JobRequest
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.bot_harness import ANA, BOB
from tests.bounds_harness import admin_bot
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, WIKI, Worker, said

PAYROLL = Source(id="payroll", location=["/srv/payroll"], access=["group:finance"], added_by="cli")
BUDGET = Source(id="budget", location=["/srv/budget"], access=["group:finance"], added_by="cli")


@dataclass
class Held(Worker):
    """A worker whose first sync starts and then waits (for `gate`)."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def sync(self, request: JobRequest) -> None:
        self.entered.set()
        await super().sync(request)


async def test_status_counts_and_names_only_what_the_viewer_may_read(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    worker = Held()
    async with admin_bot(loaded_kb, settings, slack, worker) as lore:
        for source in (WIKI, PAYROLL, BUDGET):
            await lore.registry.put(source)
        for source in (PAYROLL, BUDGET, WIKI):  # one runs at a time: payroll runs, the others wait
            assert await lore.jobs.request_sync(JobRequest(source_id=source.id))
        await asyncio.wait_for(worker.entered.wait(), 10)
        bob, ana, carl = [await said(lore, user, "status") for user in (BOB, ANA, CARL_ADMIN)]
    assert "1 queued · running nothing" in bob  # wiki waits; the finance jobs are not counted
    assert "payroll" not in bob and "budget" not in bob and "more" not in bob
    assert "*wiki*" in bob
    assert "2 queued · running payroll" in ana and "*budget*" in ana  # the finance team sees its own
    assert "2 queued · running payroll" in carl and "*budget*" in carl and "*wiki*" in carl
