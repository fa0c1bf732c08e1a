"""What a connector keeps between syncs (a wiki's page list, a site's ETags, a Confluence snapshot): one typed
value per (source, kind), and only ever an optimisation: a missing or unreadable value costs one full
listing, never a wrong one.

Two stores keep it, chosen by the rule that shares the sync state (`ingestion.state.opening.shared_redis`):
JSON files under `LORE_DATA_DIR/connectors/<source>/` (`<kind>.json`, replaced atomically; one host), or the
shared key-value store (the Redis hash `lore:conncache:<source>`: kind -> JSON), so that whichever worker
syncs a source next lists it incrementally from what any worker listed last. Either way each host has a
scratch folder per source (`scratch`, that same folder) for files only the sync running on this host uses
(the web pages' bodies read during its listing). Removing a source forgets both (`forget`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ingestion.state.opening import shared_redis
from knowledge import keys
from knowledge.kv.base import KeyValue, StoreUnavailable
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Connect = Callable[[], AbstractAsyncContextManager[KeyValue]]  # a store for one operation


class ConnectorCache(ABC):
    """One source's cache: `read` and `replace` a typed value per kind; `scratch` is this host's folder."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    async def read(self, kind: str, model: type[M]) -> M | None:
        """The cached `kind`; None when there is none or it cannot be read (logged: one full listing)."""
        try:
            raw = await self._get(kind)
            return None if raw is None else model.model_validate_json(raw)
        except (OSError, StoreUnavailable, ValidationError) as exc:
            log.warning("ignoring the %s cache %s (%s): the next listing lists everything", kind, self, exc)
            return None

    async def replace(self, kind: str, value: BaseModel) -> None:
        """Replace the cached `kind` with `value` in one step (a crash leaves the old one or the new one)."""
        await self._put(kind, value.model_dump_json())

    async def forget(self) -> None:
        """Drop every kind and this host's scratch files (the source is removed)."""
        await self._drop()
        await asyncio.to_thread(shutil.rmtree, self.scratch, ignore_errors=True)

    @abstractmethod
    async def _get(self, kind: str) -> str | bytes | None: ...

    @abstractmethod
    async def _put(self, kind: str, raw: str) -> None: ...

    @abstractmethod
    async def _drop(self) -> None: ...


class FileCache(ConnectorCache):
    """`<kind>.json` files in the source's folder on this host (embedded mode)."""

    def file(self, kind: str) -> Path:
        """Where `kind` is kept."""
        return self.scratch / f"{kind}.json"

    async def _get(self, kind: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.file(kind).read_bytes)
        except FileNotFoundError:
            return None

    async def _put(self, kind: str, raw: str) -> None:
        await asyncio.to_thread(_write_atomically, self.file(kind), raw)

    async def _drop(self) -> None:
        return None  # the files are in `scratch`, which `forget` removes

    def __str__(self) -> str:
        return str(self.scratch)


class SharedCache(ConnectorCache):
    """The source's hash in the shared key-value store (every worker of a fleet reads what any wrote)."""

    def __init__(self, connect: Connect, source_id: str, scratch: Path) -> None:
        super().__init__(scratch)
        self.connect = connect
        self.key = keys.connector_cache(source_id)

    async def _get(self, kind: str) -> str | None:
        async with self.connect() as store:
            return (await store.hgetall(self.key)).get(kind)

    async def _put(self, kind: str, raw: str) -> None:
        async with self.connect() as store:
            await store.hset(self.key, kind, raw)
        # what this host kept before the cache was shared is stale from now on: only scratch stays local
        await asyncio.to_thread(FileCache(self.scratch).file(kind).unlink, missing_ok=True)

    async def _drop(self) -> None:
        async with self.connect() as store:
            await store.delete(self.key)

    def __str__(self) -> str:
        return self.key


def cache_dir(source: Source, settings: Settings) -> Path:
    """The source's folder on this host: its cache files (embedded mode) and scratch files."""
    return _folder(source.id, settings)


def connector_cache(source_id: str, settings: Settings) -> ConnectorCache:
    """The cache of a source's connector: shared in Redis exactly when the sync state is, else files."""
    scratch = _folder(source_id, settings)
    url = shared_redis(settings)
    return SharedCache(partial(_redis, url), source_id, scratch) if url else FileCache(scratch)


def _folder(source_id: str, settings: Settings) -> Path:
    return settings.data_dir / "connectors" / source_id


@asynccontextmanager
async def _redis(url: str) -> AsyncIterator[KeyValue]:
    # a connection per operation (two or three per sync): a connector owns nothing that needs closing
    store = RedisStore(url)
    try:
        yield store
    finally:
        await store.close()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
