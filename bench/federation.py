"""Federated retrieval latency: what asking another Lore at question time costs.

A remote Lore runs as its own process (`lore api` over a few handbook pages, its own model), as it would on
another machine. The local Lore (Qdrant Edge, the bundled model) retrieves the same kind of question four
ways: alone; with the healthy remote (the two asked at once, rankings fused); with a remote whose port
refuses connections; with a remote that never answers (the first question costs the time budget,
`LORE_REMOTE_TIMEOUT`; the remote then rests for `knowledge.federation.COOLDOWN` seconds, and the questions
asked meanwhile skip it at once).
Every question text is distinct, so each one is really embedded on both sides.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from bench.common import bench_settings, ingest, median_time
from knowledge.access import Principal
from knowledge.apikeys import open_keys
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.service import Knowledge
from knowledge.sources import Credentials, FileRegistry, Source
from tests.api_harness import silent_lore
from tests.conftest import free_port, wait_for_port

LOCAL_PAGES = {
    "expenses.md": "# Expenses\n\nHotels are reimbursed up to 200 euros a night; meals up to 75 a day.\n",
    "time-off.md": "# Time off\n\nEveryone gets 25 days of paid holiday per year, requested in Workday.\n",
    "security.md": "# Security\n\nLost laptops are reported to security@example.com within one hour.\n",
}
REMOTE_PAGES = {
    "leave.md": "# Parental leave\n\nParents get 16 weeks of paid parental leave in the first year.\n",
    "pension.md": "# Pension\n\nThe company adds 5 percent of salary to the pension plan every month.\n",
    "sick.md": "# Sick leave\n\nReport sick to your manager before 10:00; a note is needed after 3 days.\n",
}
QUESTIONS = (  # and the source that holds the answer
    ("How are hotels reimbursed", "handbook"),
    ("How much parental leave do parents get", "hr-lore"),
    ("What does the company add to the pension", "hr-lore"),
    ("How many days of holiday do we get", "handbook"),
    ("When is a sick note needed", "hr-lore"),
)
KEY_ENV = "LORE_SECRET_BENCH_REMOTE_KEY"
LORE = str(Path(sys.executable).parent / "lore")


class FederationLatency(BaseModel):
    """Median retrieval times (ms) of one question, by what the remote does."""

    runs: int
    budget_s: float
    local_ms: float
    remote_call_ms: float
    healthy_ms: float
    healthy_right_first: float  # of the healthy runs, the fraction whose top hit is from the Lore that knows
    dead_ms: float
    slow_first_ms: float  # the question that finds the remote silent: it waits out the budget
    slow_later_ms: float  # the questions after it, while the remote rests (`COOLDOWN`)

    @property
    def healthy_ratio(self) -> float:
        """Federated over local-only retrieval."""
        return self.healthy_ms / self.local_ms


def _write(folder: Path, pages: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _env(data: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    return {**clean, "LORE_DATA_DIR": str(data)}


async def _times(
    kb: Knowledge, label: str, runs: int, asker: Principal, start: int = 0
) -> tuple[float, float]:
    """Median ms of `runs` distinct questions (from the `start`th), and the fraction whose top hit is from
    the source that answers it."""
    spent, right = [], 0
    for n in range(runs):
        text, source = QUESTIONS[(start + n) % len(QUESTIONS)]
        started = time.perf_counter()
        found = await kb.retrieve(f"{text}? ({label} {n})", asker)
        spent.append(time.perf_counter() - started)
        right += bool(found.hits) and found.hits[0].chunk.source_id == source
    return 1000 * statistics.median(spent), right / runs


async def measure(
    runs: int = 30, slow_runs: int = 5, budget: float = 2.0, slow_budget: float | None = None
) -> FederationLatency:
    """Run the four cases; the remote `lore api` process is stopped at the end. `budget` is each remote's
    time budget; `slow_budget` (default: the same) the one given to the remote that never answers, so
    that a quick run can wait less for it without risking the healthy remote's answers."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        remote_data = root / "remote-data"
        pages = _write(root / "remote-pages", REMOTE_PAGES)
        await asyncio.to_thread(
            subprocess.run,
            [LORE, "ingest", str(pages), "--source", "hr", "--access", "public"],
            env=_env(remote_data),
            check=True,
            capture_output=True,
        )
        _, key = await open_keys(bench_settings(remote_data)).create("bench", [], 0, "bench")
        os.environ[KEY_ENV] = key
        port = free_port()
        command = [LORE, "api", "--port", str(port)]
        remote = await asyncio.to_thread(
            subprocess.Popen, command, env=_env(remote_data), stderr=subprocess.DEVNULL
        )
        try:
            await asyncio.to_thread(wait_for_port, port, remote)
            budgets = (budget, budget if slow_budget is None else slow_budget)
            return await _measure(root, f"http://127.0.0.1:{port}", runs, slow_runs, budgets)
        finally:
            remote.send_signal(signal.SIGTERM)
            await asyncio.to_thread(remote.wait, 30)
            shutil.rmtree(root, ignore_errors=True)


async def _measure(
    root: Path, url: str, runs: int, slow_runs: int, budgets: tuple[float, float]
) -> FederationLatency:
    budget, slow_budget = budgets
    settings = bench_settings(root / "local-data", remote_timeout=budget)
    registry = FileRegistry(settings.data_dir / "sources.json")
    loopback = HostGuard(["127.0.0.1"])  # the remote runs on this machine
    federation = Federation(registry, budget, guard=loopback)
    slow_federation = Federation(registry, slow_budget, guard=loopback)
    kb = await Knowledge.open(settings)
    federated = Knowledge(settings, kb.index, kb.embedder, federation)
    slowed = Knowledge(settings, kb.index, kb.embedder, slow_federation)
    alone = Knowledge(settings, kb.index, kb.embedder)
    asker = Principal.of(groups=["staff"])

    async def remote_at(where: str) -> None:
        source = Source(
            id="hr-lore",
            kind="lore-remote",
            location=[where],
            access=["group:staff"],
            credentials=Credentials(env=KEY_ENV),
        )
        await registry.put(source)

    try:
        await ingest(kb, [_write(root / "local-pages", LOCAL_PAGES)], "handbook", ["public"])
        await remote_at(url)
        (source,) = await federation.remotes(asker)

        async def remote_call() -> None:
            await federation.ask(source, f"How much parental leave? ({time.perf_counter()})", 6, budget)

        await _times(federated, "warm-up", 3, asker)  # model, jieba and connections, uncounted
        call_ms = 1000 * await median_time(remote_call, runs)
        local, healthy, right = [], [], 0.0
        for n in range(runs):  # interleaved, so that the machine's ups and downs hit both alike
            local.append((await _times(alone, f"local {n}", 1, asker, start=n))[0])
            took, first = await _times(federated, f"healthy {n}", 1, asker, start=n)
            healthy.append(took)
            right += first
        local_ms, healthy_ms = statistics.median(local), statistics.median(healthy)
        right_first = right / runs
        await remote_at(f"http://127.0.0.1:{free_port()}")
        dead_ms, _ = await _times(federated, "dead", runs, asker)
        async with silent_lore() as silent:
            await remote_at(silent)
            slow_first_ms, _ = await _times(slowed, "slow first", 1, asker)
            slow_later_ms, _ = await _times(slowed, "slow later", slow_runs, asker)
    finally:
        await federation.close()
        await slow_federation.close()
        await slowed.answerer.close()
        await alone.answerer.close()
        await federated.answerer.close()
        await kb.close()
    return FederationLatency(
        runs=runs,
        budget_s=slow_budget,
        local_ms=local_ms,
        remote_call_ms=call_ms,
        healthy_ms=healthy_ms,
        healthy_right_first=right_first,
        dead_ms=dead_ms,
        slow_first_ms=slow_first_ms,
        slow_later_ms=slow_later_ms,
    )
