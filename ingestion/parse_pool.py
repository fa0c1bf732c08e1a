"""Parsing and chunking in a separate process: off the event loop, with a time limit, and a crashing or
hanging parser costs one document, never the process (the bot or the worker) that asked. A parser process
never outlives the process that started it, even one killed with SIGKILL (`ingestion.lifeline`)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pydantic import BaseModel

from ingestion.chunking import Draft, chunk_sections
from ingestion.lifeline import tie_to_parent
from ingestion.offline import prepare_unstructured
from ingestion.parsing import ParseError, parse_file


class Parsed(BaseModel):
    """A document's title and its chunk drafts."""

    title: str
    drafts: list[Draft]
    text_chars: int


def parse_and_chunk(path: str, max_bytes: int, size: int, overlap: int) -> Parsed:
    """Parse one file and cut it into chunks (runs in the pool's process)."""
    doc = parse_file(Path(path), max_bytes=max_bytes)
    drafts = chunk_sections(doc, size=size, overlap=overlap)
    if not drafts:
        raise ParseError("no text")
    return Parsed(title=doc.title, drafts=drafts, text_chars=sum(len(d.text) for d in drafts))


def start_parser(parent: int) -> None:
    """The first thing a parser process does: tie its life to `parent`'s, then get unstructured ready."""
    tie_to_parent(parent)
    prepare_unstructured()


class ParsePool:
    """A pool of parser processes; `workers=0` parses in a thread of this process (tests, tiny runs)."""

    def __init__(self, *, workers: int = 1, timeout: float = 120.0) -> None:
        self.workers = workers
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                initializer=start_parser,
                initargs=(os.getpid(),),
                mp_context=multiprocessing.get_context("spawn"),
            )
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def parse(self, path: Path, *, max_bytes: int, size: int, overlap: int) -> Parsed:
        """Parsed chunks of `path`, or `ParseError` with a reason a person can act on."""
        args = (str(path), max_bytes, size, overlap)
        if self.workers == 0:
            prepare_unstructured()
            return await asyncio.wait_for(asyncio.to_thread(parse_and_chunk, *args), self.timeout)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor(), parse_and_chunk, *args)
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self._kill()  # the hung parser is killed; the next document gets a fresh process
            raise ParseError(f"parsing took longer than {self.timeout:g} s (LORE_PARSE_TIMEOUT)") from None
        except BrokenProcessPool:
            self._kill()
            raise ParseError("the parser crashed on this file") from None

    async def close(self) -> None:
        """Stop the parser processes."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
