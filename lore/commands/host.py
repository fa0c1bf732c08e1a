"""Where a terminal command runs: its standard streams, and the knowledge base, registry and jobs it uses.

`lore ingest`, `sources`, `apikey`, `search`, `ask` and `chat` take a `Host`. Run on their own they get a
`LocalHost`, which opens what they need (the embedded index is held by one process at a time); sent to a
running `lore serve` (lore/serve/) they get that process's `ServedHost`, over the index it holds, with the
streams relayed to the terminal that ran them. The commands are the same code either way.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from ingestion.source_jobs import WorkerContext, run_delete, run_sync
from knowledge.jobs import DELETE, JobRequest
from knowledge.kv.redis import RedisStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Registry, open_registry
from lore.runtime import open_engine


async def _stdin_line() -> str:
    return await asyncio.to_thread(sys.stdin.readline)


class LineReader(Protocol):
    """Reads one line of the command's standard input ('' at its end)."""

    async def __call__(self) -> str: ...


@dataclass
class Terminal:
    """A command's standard streams and working folder (relative paths are read from it)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=Path.cwd)
    readline: LineReader = _stdin_line

    async def lines(self) -> AsyncIterator[str]:
        """The non-blank lines of standard input, stripped, until its end."""
        while line := await self.readline():
            if line.strip():
                yield line.strip()

    def path(self, given: str) -> Path:
        """`given` (absolute, or relative to the working folder) as an absolute path."""
        return (self.cwd / Path(given).expanduser()).resolve()


class Host(Protocol):
    """What a terminal command works with; each context manager closes what it opened itself."""

    @property
    def settings(self) -> Settings: ...

    @property
    def terminal(self) -> Terminal: ...

    @property
    def served(self) -> bool:
        """True inside a running `lore serve`."""
        ...

    @property
    def queues_jobs(self) -> bool:
        """True when sync jobs go to `lore worker`s over Redis rather than run on this host."""
        ...

    def knowledge(self) -> AbstractAsyncContextManager[Knowledge]: ...

    def redis(self) -> AbstractAsyncContextManager[RedisStore | None]: ...

    def registry(self) -> AbstractAsyncContextManager[Registry]: ...

    def worker(self) -> AbstractAsyncContextManager[WorkerContext]: ...

    def writing(self) -> AbstractAsyncContextManager[object]: ...

    async def run_job(self, kind: str, request: JobRequest) -> None: ...


@dataclass
class LocalHost:
    """A command on its own: it opens what it needs and closes it when done."""

    settings: Settings
    terminal: Terminal = field(default_factory=Terminal)
    served: bool = False

    @property
    def queues_jobs(self) -> bool:
        return self.settings.redis_url is not None

    @asynccontextmanager
    async def knowledge(self) -> AsyncIterator[Knowledge]:
        async with await Knowledge.open(self.settings) as kb:
            yield kb

    @asynccontextmanager
    async def redis(self) -> AsyncIterator[RedisStore | None]:
        store = RedisStore(self.settings.redis_url) if self.settings.redis_url else None
        try:
            yield store
        finally:
            if store is not None:
                await store.close()

    @asynccontextmanager
    async def registry(self) -> AsyncIterator[Registry]:
        async with self.redis() as store:
            yield open_registry(self.settings, store)

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[WorkerContext]:
        async with AsyncExitStack() as stack:
            registry = await stack.enter_async_context(self.registry())
            engine = await open_engine(stack, self.settings)
            yield WorkerContext(settings=self.settings, engine=engine, registry=registry)

    def writing(self) -> AbstractAsyncContextManager[object]:
        """Nothing else writes: this process holds the index."""
        return nullcontext()

    async def run_job(self, kind: str, request: JobRequest) -> None:
        """Run a sync or a removal here and now, as the worker would."""
        async with self.worker() as context:
            await (run_delete if kind == DELETE else run_sync)(context, request)
