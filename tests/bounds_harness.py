"""The bot as Slack admins and others use it to manage sources (real HTTP, signed requests), with the
registry, audit log and a job queue whose worker only records what it is asked; for the tests of what an
admin may and may not do (tests/test_bounds_*.py).

    async with admin_bot(kb, settings, slack, files_roots=[folder]) as lore:
        reply = await said(lore, CARL_ADMIN, "add files wiki /srv/wiki access=public")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from knowledge.audit import StoreAudit
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import StoreRegistry
from tests.bot_harness import bot_harness, bot_settings
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, Admin, Worker


@asynccontextmanager
async def admin_bot(
    kb: Knowledge, settings: Settings, slack: SlackStandin, worker: Worker | None = None, **overrides: Any
) -> AsyncIterator[Admin]:
    """One bot replica whose admin is Carl, on an in-process store; `overrides` change its settings."""
    store = MemoryStore()
    worker = worker or Worker()
    jobs = InlineJobs(worker.sync, worker.delete)
    registry, audit = StoreRegistry(store), StoreAudit(store)
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN], **overrides)
    async with bot_harness(kb, [store], tuned, slack, registry=registry, audit=audit, jobs=jobs) as bot:
        yield Admin(bot, registry, audit, jobs, worker)
        worker.gate.set()
        await jobs.close(5)
