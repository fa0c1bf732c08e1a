"""What the index holds of each document, per source: the sync engine's memory between runs.

Written per document *after* its chunks are stored, so a sync killed at any point resumes without
duplicates or holes: at worst a stored document is processed again (its vectors come from the cache).
Two stores keep it: an SQLite file under `LORE_DATA_DIR` (`FileSyncState`, one process) and the shared
key-value store (`SharedSyncState`, Redis: every worker of a fleet sees what the others stored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel


class DocState(BaseModel):
    """The indexed version of one document."""

    doc_id: str
    version: str
    content_hash: str
    acl: list[str]
    chunks: int
    title: str = ""


class SyncState(Protocol):
    """Where the sync engine keeps what it stored of each document."""

    async def documents(self, source_id: str) -> dict[str, DocState]:
        """Every document stored for a source."""
        ...

    async def put(self, source_id: str, state: DocState) -> None:
        """Record a document as stored."""
        ...

    async def put_many(self, source_id: str, states: list[DocState]) -> None:
        """Record several documents as stored, in one write (a sync's group)."""
        ...

    async def delete(self, source_id: str, doc_id: str | None = None) -> None:
        """Forget one document, or a whole source."""
        ...

    async def sources(self) -> list[str]:
        """Ids of every source with stored documents."""
        ...

    async def replace_with(self, other: Path) -> None:
        """Replace every row with those of the SQLite state database at `other` (a rebuild's)."""
        ...

    async def close(self) -> None:
        """Release what it holds."""
        ...
