"""The source registry: which sources Lore keeps in sync, how often, and how their last sync went.

Embedded mode keeps it in a JSON file under `LORE_DATA_DIR` (written atomically); `lore ingest` records the
sources it syncs, and the bot process re-syncs them when due. The Redis-backed registry of production and
the `/lore` admin command come with the "Sources" work.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

MAX_ERRORS = 10  # recent document errors kept on a source's status


class Source(BaseModel):
    """A source to keep in sync. `every` is the seconds between syncs (0 = only when asked)."""

    id: str
    kind: Literal["files"] = "files"
    location: list[str] = Field(description="Absolute folders or files (files kind).")
    access: list[str] = Field(description="Access strings of every document of the source.")
    every: int = Field(3600, ge=0)


class SourceStatus(BaseModel):
    """How the last sync of a source went."""

    last_sync: float | None = None
    ok: bool | None = None
    summary: str = ""
    errors: list[str] = Field(default_factory=list)


class SourceRecord(BaseModel):
    """A source and its status, as stored."""

    source: Source
    status: SourceStatus = Field(default_factory=SourceStatus)

    def due(self, now: float) -> bool:
        """True when the source should be synced now."""
        if not self.source.every:
            return False
        last = self.status.last_sync
        return last is None or now - last >= self.source.every


class Registry(BaseModel):
    """Everything the file holds."""

    sources: dict[str, SourceRecord] = Field(default_factory=dict)


class FileRegistry:
    """The registry of embedded mode: one JSON file, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> Registry:
        if not self.path.exists():
            return Registry()
        return Registry.model_validate_json(self.path.read_text(encoding="utf-8"))

    def _write(self, registry: Registry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(registry.model_dump_json(indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    async def all(self) -> list[SourceRecord]:
        """Every registered source, by id."""
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
        return [registry.sources[k] for k in sorted(registry.sources)]

    async def put(self, source: Source) -> None:
        """Register a source, or change it (its status is kept)."""
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            old = registry.sources.get(source.id)
            registry.sources[source.id] = SourceRecord(
                source=source, status=old.status if old else SourceStatus()
            )
            await asyncio.to_thread(self._write, registry)

    async def record(self, source_id: str, ok: bool, summary: str, errors: list[str]) -> None:
        """Store the outcome of a sync."""
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            found = registry.sources.get(source_id)
            if found is None:
                return
            found.status = SourceStatus(
                last_sync=time.time(), ok=ok, summary=summary, errors=errors[:MAX_ERRORS]
            )
            await asyncio.to_thread(self._write, registry)

    async def remove(self, source_id: str) -> None:
        """Forget a source."""
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            if registry.sources.pop(source_id, None) is not None:
                await asyncio.to_thread(self._write, registry)
