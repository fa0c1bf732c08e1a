"""A content-addressed cache of passage vectors, so the same chunk text is never embedded twice.

Keyed by sha256 of (model name, text); kept in SQLite under `LORE_DATA_DIR`. Embedding dominates ingestion
cost (about 0.45 s per 512-token chunk on 2 cores), so re-syncs, renamed files and repeated boilerplate
paragraphs cost nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from knowledge.embedding.base import Embedder
from knowledge.sqlite_tx import transaction


class EmbeddingCache:
    """SQLite table text-hash -> float32 vector."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, text: str) -> bytes:
        """Cache key of `text` embedded as a passage by `model`."""
        return hashlib.sha256(f"{model}\x00{text}".encode()).digest()

    def get_many(self, keys: list[bytes]) -> dict[bytes, list[float]]:
        """The cached vectors among `keys`."""
        found: dict[bytes, list[float]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part
                ):
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def put_many(self, items: dict[bytes, list[float]]) -> None:
        """Store vectors, in one transaction (not one commit per vector)."""
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()]
        with self._lock, transaction(self._db):
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


RECENT_QUERIES = 256


class CachedEmbedder:
    """Wraps an embedder: passages come from the cache when seen before; queries from a small in-memory
    cache of the latest ones (the bot searches one question twice: as the channel and as the asker).

    `texts_embedded` and `calls` count what reached the model (tests and benchmarks read them).
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.dim = inner.dim
        self.texts_embedded = 0
        self.calls = 0
        self._queries: OrderedDict[str, list[float]] = OrderedDict()

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of passages; only texts not cached reach the model."""
        keys = [EmbeddingCache.key(self.name, t) for t in texts]
        found = await asyncio.to_thread(self.cache.get_many, keys)
        missing: dict[bytes, str] = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            self.calls += 1
            self.texts_embedded += len(missing)
            vectors = await self.inner.embed_passages(list(missing.values()))
            fresh = dict(zip(missing, vectors, strict=True))
            await asyncio.to_thread(self.cache.put_many, fresh)
            found.update(fresh)
        return [found[k] for k in keys]

    async def embed_query(self, text: str) -> list[float]:
        """Vector of a query; the latest `RECENT_QUERIES` are kept in memory."""
        if (vector := self._queries.get(text)) is not None:
            self._queries.move_to_end(text)
            return vector
        vector = await self.inner.embed_query(text)
        self._queries[text] = vector
        if len(self._queries) > RECENT_QUERIES:
            self._queries.popitem(last=False)
        return vector

    async def close(self) -> None:
        """Close the model and the cache."""
        await self.inner.close()
        self.cache.close()
