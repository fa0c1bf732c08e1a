"""Who changed what, when: every admin change to Lore's sources is recorded, and `/lore audit` shows it."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from knowledge import keys
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings

log = logging.getLogger(__name__)

KEEP = 10_000  # entries kept in Redis
TTL = 365 * 24 * 3600.0  # seconds the Redis list lives after its last entry
BLOCK = 64 * 1024  # bytes read at a time from the end of the file


class AuditEntry(BaseModel):
    """One change: `who` is a Slack user id (or `cli:<user>`), `action` e.g. `add`, `remove`, `sync`."""

    at: float
    who: str
    action: str
    target: str = ""
    detail: str = ""


class AuditLog(Protocol):
    """Append-only record of changes: Redis in production, a JSONL file in embedded mode."""

    async def record(self, entry: AuditEntry) -> None:
        """Append an entry."""
        ...

    async def latest(self, count: int = 20) -> list[AuditEntry]:
        """The newest entries, newest first."""
        ...


def _parse(line: str) -> AuditEntry | None:
    try:
        return AuditEntry.model_validate_json(line)
    except ValidationError:
        log.warning("unreadable audit entry skipped: %.80s", line)
        return None


class FileAudit:
    """The audit log of embedded mode: one JSON line per entry, appended; `latest` reads only the tail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")  # one write of one line: appends of other processes do not interleave

    def _tail(self, count: int) -> list[str]:
        """The last `count` lines, oldest first, reading blocks from the end."""
        if count <= 0 or not self.path.exists():
            return []
        with self.path.open("rb") as data:
            end = data.seek(0, os.SEEK_END)
            buffer = b""
            while end > 0 and buffer.count(b"\n") <= count:
                start = max(0, end - BLOCK)
                data.seek(start)
                buffer = data.read(end - start) + buffer
                end = start
        lines = [line for line in buffer.decode("utf-8", errors="replace").splitlines() if line.strip()]
        return lines[-count:]

    async def record(self, entry: AuditEntry) -> None:
        async with self._lock:
            await asyncio.to_thread(self._append, entry.model_dump_json())

    async def latest(self, count: int = 20) -> list[AuditEntry]:
        async with self._lock:
            lines = await asyncio.to_thread(self._tail, count)
        entries = [_parse(line) for line in reversed(lines)]
        return [e for e in entries if e is not None]


class StoreAudit:
    """The audit log of production: a list on the shared store, the last `KEEP` entries for a year."""

    def __init__(self, store: KeyValue) -> None:
        self.store = store

    async def record(self, entry: AuditEntry) -> None:
        await self.store.push(keys.audit(), entry.model_dump_json(), ttl=TTL, keep=KEEP)

    async def latest(self, count: int = 20) -> list[AuditEntry]:
        if count <= 0:
            return []
        lines = (await self.store.items(keys.audit()))[-count:]
        entries = [_parse(line) for line in reversed(lines)]
        return [e for e in entries if e is not None]


def open_audit(settings: Settings, store: KeyValue | None = None) -> AuditLog:
    """Redis (`store`, or one on `LORE_REDIS_URL`) when configured, else `audit.jsonl` in the data dir."""
    if settings.redis_url:
        return StoreAudit(store or RedisStore(settings.redis_url))
    return FileAudit(settings.data_dir / "audit.jsonl")
