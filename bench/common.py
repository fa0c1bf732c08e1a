"""Shared helpers of the benchmarks: data location, a knowledge base on a data dir, timing."""

from __future__ import annotations

import os
import re
import statistics
import time
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.sync import SyncResult
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.runtime import open_state, sync_engine


def shared_data() -> Path:
    """The shared benchmark data: `LORE_SHARED_DATA`, else `../shared/data` beside the repository, else
    `/work/shared/data` (where it lives on the team's machines, for clones made elsewhere)."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    named = os.environ.get("LORE_SHARED_DATA")
    for candidate in [Path(named)] if named else [beside, Path("/work/shared/data")]:
        if candidate.is_dir():
            return candidate
    return beside


DATA = shared_data()


def bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Embedded-default settings on `data_dir`, ignoring the environment's .env."""
    return Settings(data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]


async def ingest(
    kb: Knowledge, roots: list[Path], source: str, acl: list[str], workers: int = 1
) -> SyncResult:
    """Sync folders or files into `kb` with the same engine as `lore ingest`."""
    parser = ParsePool(workers=workers, timeout=kb.settings.parse_timeout)
    state = await open_state(kb)
    try:
        result = await sync_engine(kb, parser, state).sync(source, FilesConnector(roots, acl))
        await kb.index.optimize()
        return result
    finally:
        await state.close()
        await parser.close()


async def median_time(action: Callable[[], Awaitable[object]], runs: int) -> float:
    """Median wall time of `runs` awaits of `action`, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_LINK = re.compile(r"https?://\S+")
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> list[str]:
    """The words of `text`, lower-cased, without Markdown, punctuation or links (for span matching)."""
    return _WORD.findall(_LINK.sub(" ", unicodedata.normalize("NFKC", text).lower()))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
