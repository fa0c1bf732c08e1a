"""Parsing and chunking in a separate process: off the event loop, with a time limit, and a crashing or
hanging parser costs one document, never the process (the bot or the worker) that asked. A parser process
never outlives the process that started it, even one killed with SIGKILL (`ingestion.lifeline`)."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from ingestion.chunking import Draft, chunk_sections
from ingestion.lifeline import tie_to_parent
from ingestion.offline import prepare_unstructured
from ingestion.parsing import ParseError, parse_file

T = TypeVar("T")


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


class ParseJob(BaseModel):
    """A fetched file to read: hashed, then parsed unless its hash is `known_hash` (content unchanged)."""

    path: str
    known_hash: str | None = None


class ParseOutcome(BaseModel):
    """What reading a file gave: its content hash and parse (none when unchanged), or why it failed."""

    content_hash: str = ""
    parsed: Parsed | None = None
    error: str | None = None


def read_files(jobs: list[ParseJob], max_bytes: int, size: int, overlap: int) -> list[ParseOutcome]:
    """Hash and parse several files in one call (runs in the pool's process): small documents cost one
    round trip between the processes for a batch instead of one each."""
    return [_read_file(job, max_bytes, size, overlap) for job in jobs]


def _read_file(job: ParseJob, max_bytes: int, size: int, overlap: int) -> ParseOutcome:
    try:
        content_hash = hash_file(Path(job.path), max_bytes)
    except ValueError as exc:  # too large, found out after fetching
        return ParseOutcome(error=str(exc))
    except OSError as exc:
        return ParseOutcome(error=f"cannot fetch: {exc.strerror or exc}")
    if content_hash == job.known_hash:
        return ParseOutcome(content_hash=content_hash)  # touched, not changed: nothing to parse
    try:
        return ParseOutcome(
            content_hash=content_hash, parsed=parse_and_chunk(job.path, max_bytes, size, overlap)
        )
    except ParseError as exc:
        return ParseOutcome(error=exc.reason)


def hash_file(path: Path, max_bytes: int) -> str:
    """SHA-256 of a file's content; ValueError when it is larger than `max_bytes`."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(too_large(size, max_bytes))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def too_large(size: int, limit: int) -> str:
    """Why a file is not read: its size against the limit."""
    return f"file too large ({size / 1e6:.1f} MB > {limit / 1e6:.0f} MB limit, LORE_MAX_FILE_MB)"


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
        return await self._run(parse_and_chunk, str(path), max_bytes, size, overlap)

    async def read(
        self, jobs: list[ParseJob], *, max_bytes: int, size: int, overlap: int
    ) -> list[ParseOutcome]:
        """Hash and parse `jobs` in one call to the parser process, an outcome for each. When that call
        takes longer than the time limit or crashes the parser, each file is read again alone, so that
        only the one to blame fails."""
        try:
            return await self._run(read_files, jobs, max_bytes, size, overlap)
        except ParseError as exc:
            if len(jobs) == 1:
                return [ParseOutcome(error=exc.reason)]
        return [(await self.read([job], max_bytes=max_bytes, size=size, overlap=overlap))[0] for job in jobs]

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        """`call(*args)` in the parser process (in a thread with `workers=0`), within the time limit."""
        if self.workers == 0:
            prepare_unstructured()
            return await asyncio.wait_for(asyncio.to_thread(call, *args), self.timeout)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor(), call, *args)
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
