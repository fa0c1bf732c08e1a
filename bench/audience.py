"""The first question in a large private channel: the Slack calls Lore makes to learn who can read the
answer, and the time from the signed event to the finished answer, against the Slack stand-in.

Lore lists the workspace's people with users.list (1,000 a call) once the channel has more than a handful
of members; its peer, measured in the same run, looks every member up with users.info (what Lore did
before). The stand-in answers at loopback speed and never rate-limits, so the time column is Lore's own
cost; the *rate-limit floor* is what Slack's published per-minute limits would add at least (users.info and
conversations.members: Tier 4, 100 a minute; conversations.info: Tier 3, 50; users.list and
usergroups.list: Tier 2, 20), counted from the calls made.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings
from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from knowledge.access import Directory
from knowledge.directory import DirectoryFile
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from lore.runtime import sync_engine
from tests.bot_harness import bot_harness, bot_settings, load_docs, workspace
from tests.slack_standin import SlackStandin

PER_MINUTE = {  # Slack's published tiers for the methods of an audience
    "users.info": 100,
    "conversations.members": 100,
    "conversations.info": 50,
    "users.list": 20,
    "usergroups.list": 20,
}
WHO = ("users.info", "users.list", "usergroups.list", "conversations.info", "conversations.members")
QUESTION = "How much are meals reimbursed on business trips?"


class Strategy(BaseModel):
    """One way of resolving the channel's readers: its Slack calls and times."""

    name: str
    calls: dict[str, int]
    seconds: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def floor_minutes(self) -> int:
        """Whole minutes Slack's per-minute limits would hold these calls back, at least."""
        return max((math.ceil(n / PER_MINUTE[m]) - 1 for m, n in self.calls.items() if n), default=0)


class AudienceBench(BaseModel):
    members: int
    workspace: int
    runs: int
    bulk: Strategy
    one_by_one: Strategy


async def measure(members: int = 1000, workspace_size: int = 3000, runs: int = 3) -> AudienceBench:
    """`runs` first questions (each with cold caches) per strategy, interleaved."""
    bulk = Strategy(name="Lore: users.list, once", calls={}, seconds=[])
    each = Strategy(name="peer: users.info per member", calls={}, seconds=[])
    with tempfile.TemporaryDirectory(prefix="lore-bench-audience-") as folder:
        settings = bench_settings(Path(folder) / "data")
        async with await Knowledge.open(settings) as kb:
            state = FileSyncState(Path(folder) / "state.sqlite")
            await load_docs(sync_engine(kb, ParsePool(workers=0), state), Path(folder))
            await state.close()
            for _ in range(runs):
                for strategy, bulk_at in ((bulk, 50), (each, 10**9)):
                    calls, seconds = await _first_question(kb, members, workspace_size, bulk_at)
                    strategy.calls = calls
                    strategy.seconds.append(seconds)
    return AudienceBench(members=members, workspace=workspace_size, runs=runs, bulk=bulk, one_by_one=each)


async def _first_question(
    kb: Knowledge, members: int, people: int, bulk_at: int
) -> tuple[dict[str, int], float]:
    """A fresh bot (empty caches) in a workspace of `people`; one mention in a private channel of
    `members` (all in finance by the directory); the calls that tell the audience, and the seconds."""
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(SlackStandin())
        workspace(slack)
        ids = [f"U{n:06d}" for n in range(people)]
        for user in ids:
            slack.add_user(user, f"{user.lower()}@example.com")
        slack.add_channel("CBIG", [*ids[: members - 1], slack.bot_user_id], is_private=True)
        settings = bot_settings(kb.settings, slack, rate_limit=0)
        bot = await stack.enter_async_context(bot_harness(kb, [MemoryStore()], settings, slack))
        runtime = bot.runtimes[0]
        finance = Directory(groups={"finance": [f"{u.lower()}@example.com" for u in ids]})
        runtime.identity.directory = DirectoryFile.of(finance)
        runtime.identity.people.bulk_at = bulk_at
        started = time.perf_counter()
        ts = await bot.mention(ids[0], "CBIG", QUESTION)
        await bot.answer_in("CBIG", ts)
        seconds = time.perf_counter() - started
        counted = Counter(c.method for c in slack.calls if c.method in WHO)
        return {m: counted.get(m, 0) for m in WHO}, seconds


def report(r: AudienceBench, command: str) -> str:
    """The Markdown section."""
    rows = []
    for s in (r.bulk, r.one_by_one):
        calls = ", ".join(f"{m} {n}" for m, n in s.calls.items() if n)
        rows.append(f"| {s.name} | {s.total_calls} | {calls} | {s.median_s:.2f} | {s.floor_minutes} min |")
    ratio = r.one_by_one.median_s / r.bulk.median_s
    return (
        "## Audience of a large private channel\n\n"
        f"`{command}`. The first question in a private channel of {r.members:,} members (a workspace of "
        f"{r.workspace:,} people, everyone in finance by the directory file), from the signed event to the "
        f"finished answer, with empty caches; median of {r.runs} runs per row, interleaved. The Slack "
        "stand-in never rate-limits: the floor is what Slack's per-minute limits would add at least "
        f"(see bench/audience.py). The peer takes {ratio:.1f}x Lore's time here.\n\n"
        "| how | Slack calls | by method | seconds | rate-limit floor |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
