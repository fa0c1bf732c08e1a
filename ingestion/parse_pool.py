"""Parsing and chunking in a separate process: off the event loop, with a time limit per file, and a
crashing or hanging parser costs one document, never the process (the bot or the worker) that asked. A
parser process never outlives the process that started it, even one killed with SIGKILL
(`ingestion.lifeline`).

Files are read in batches (one round trip between the processes for many small documents). The parser
writes which file of the batch it is on, and since when, to a small progress file; the pool watches it, so
the time limit holds for each file, and a file that hangs is the one that fails, after one limit."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
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


def read_files(
    jobs: list[ParseJob], max_bytes: int, size: int, overlap: int, progress: str | None = None
) -> list[ParseOutcome]:
    """Hash and parse several files in one call (runs in the pool's process): small documents cost one
    round trip between the processes for a batch instead of one each. Before each file, `progress` (a
    path) is given the file's place in the batch and the time it started."""
    outcomes = []
    for place, job in enumerate(jobs):
        if progress is not None:
            Path(progress).write_text(f"{place} {time.time()}", encoding="ascii")
        outcomes.append(_read_file(job, max_bytes, size, overlap))
    return outcomes


def started(progress: str, call: Callable[..., T], *args: object) -> T:
    """`call(*args)` in the pool's process, after writing to `progress` that it started, and when."""
    Path(progress).write_text(f"0 {time.time()}", encoding="ascii")
    return call(*args)


def read_batch(
    progress: str, jobs: list[ParseJob], max_bytes: int, size: int, overlap: int
) -> list[ParseOutcome]:
    """`read_files` in the pool's process, writing to `progress` which file it is on."""
    return read_files(jobs, max_bytes, size, overlap, progress)


def reading_since(progress: Path) -> tuple[int, float] | None:
    """(place in the batch, start time) of the file a parser is reading, or None before the first."""
    try:
        place, started = progress.read_text(encoding="ascii").split()
        return int(place), float(started)
    except (OSError, ValueError):  # not written yet (or caught mid-write: the next look reads it)
        return None


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


class Hung(Exception):
    """The parser spent longer than the time limit on one file: the `place`-th of its call."""

    def __init__(self, place: int) -> None:
        super().__init__(place)
        self.place = place


class Replaced(Exception):
    """The parser processes were replaced (another call's file hung) before this call finished."""


class NotStarted(Exception):
    """The parser did not start on the call within the time limit, with no other call before it."""


class ParsePool:
    """A pool of parser processes; `workers=0` parses in a thread of this process (tests, tiny runs).

    The time limit counts from the moment the parser starts on a file, not from the call: a call queued
    behind another one (two sources synced at once share the pool) waits for it without losing its time."""

    def __init__(self, *, workers: int = 1, timeout: float = 120.0) -> None:
        self.workers = workers
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0  # how many times the processes were replaced
        self._in_flight = 0  # calls handed to the parser processes and not back yet
        self._progress: Path | None = None  # a temporary folder of the calls' progress files

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
        self._generation += 1
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def parse(self, path: Path, *, max_bytes: int, size: int, overlap: int) -> Parsed:
        """Parsed chunks of `path`, or `ParseError` with a reason a person can act on."""
        return await self._run(parse_and_chunk, str(path), max_bytes, size, overlap)

    async def read(
        self, jobs: list[ParseJob], *, max_bytes: int, size: int, overlap: int
    ) -> list[ParseOutcome]:
        """Hash and parse `jobs` in one call to the parser process, an outcome for each. A file that takes
        longer than the time limit fails alone: the parser is replaced and the rest of the batch is read
        again. When the parser crashes, each file is read again alone, so that only the one to blame fails."""
        if self.workers == 0 or len(jobs) == 1:
            try:
                return await self._run(read_files, jobs, max_bytes, size, overlap)
            except ParseError as exc:
                if len(jobs) == 1:
                    return [ParseOutcome(error=exc.reason)]
            return await self._one_by_one(jobs, max_bytes=max_bytes, size=size, overlap=overlap)
        try:
            return await self._watch(read_batch, jobs, max_bytes, size, overlap)
        except Replaced:
            return await self.read(jobs, max_bytes=max_bytes, size=size, overlap=overlap)
        except (BrokenProcessPool, NotStarted):  # read each file alone, to find the one to blame
            return await self._one_by_one(jobs, max_bytes=max_bytes, size=size, overlap=overlap)
        except Hung as hung:
            place = hung.place
        done = await self.read(jobs[:place], max_bytes=max_bytes, size=size, overlap=overlap) if place else []
        rest = jobs[place + 1 :]
        after = await self.read(rest, max_bytes=max_bytes, size=size, overlap=overlap) if rest else []
        return [*done, ParseOutcome(error=self._too_long()), *after]

    async def _one_by_one(
        self, jobs: list[ParseJob], *, max_bytes: int, size: int, overlap: int
    ) -> list[ParseOutcome]:
        return [(await self.read([job], max_bytes=max_bytes, size=size, overlap=overlap))[0] for job in jobs]

    def _too_long(self) -> str:
        return f"parsing took longer than {self.timeout:g} s (LORE_PARSE_TIMEOUT)"

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        """`call(*args)` in the parser process (in a thread with `workers=0`), within the time limit."""
        if self.workers == 0:
            prepare_unstructured()
            return await asyncio.wait_for(asyncio.to_thread(call, *args), self.timeout)
        try:
            return await self._watch(started, call, *args)
        except Replaced:
            return await self._run(call, *args)
        except (Hung, NotStarted):
            raise ParseError(self._too_long()) from None
        except BrokenProcessPool:
            raise ParseError("the parser crashed on this file") from None

    async def _watch(self, call: Callable[..., T], *args: object) -> T:
        """`call(progress, *args)` in a parser process, watching the progress file the call writes: `Hung`
        when one file takes longer than the time limit, `NotStarted` when the parser does not start on
        the call within it, `BrokenProcessPool` when the parser crashed (the processes are replaced in
        all three cases), `Replaced` when another call's hung file replaced them first."""
        if self._progress is None:
            self._progress = Path(tempfile.mkdtemp(prefix="lore-parse-"))
        progress = self._progress / uuid.uuid4().hex
        generation = self._generation
        loop = asyncio.get_running_loop()
        waiting_since = time.time()
        self._in_flight += 1
        try:
            future = loop.run_in_executor(self._executor(), call, str(progress), *args)
            while True:
                done, _ = await asyncio.wait({future}, timeout=min(1.0, self.timeout / 4))
                if done:
                    if self._generation != generation and (future.cancelled() or future.exception()):
                        raise Replaced
                    if future.cancelled():
                        raise BrokenProcessPool("the parser call was cancelled")
                    return future.result()
                at = reading_since(progress)
                if at is None and self._in_flight > 1:
                    waiting_since = time.time()  # behind another call, which has its own time limit
                elif at is None and time.time() - waiting_since > self.timeout:
                    raise NotStarted
                elif at is not None and time.time() - at[1] > self.timeout:
                    raise Hung(at[0])
        except (Hung, NotStarted, BrokenProcessPool):
            if self._generation == generation:
                self._kill()  # the hung or broken parser goes; the next call gets a fresh process
            raise
        finally:
            self._in_flight -= 1
            progress.unlink(missing_ok=True)

    async def close(self) -> None:
        """Stop the parser processes."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        folder, self._progress = self._progress, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
