"""The sync state in SQLite under `LORE_DATA_DIR`: one process's (embedded mode)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from ingestion.state.model import DocState
from knowledge.sqlite_tx import transaction


class FileSyncState:
    """Per-document sync state in SQLite under `LORE_DATA_DIR` (embedded mode)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS docs (source_id TEXT, doc_id TEXT, state TEXT NOT NULL, "
            "PRIMARY KEY (source_id, doc_id))"
        )
        self._lock = threading.Lock()

    def _all(self, source_id: str) -> dict[str, DocState]:
        with self._lock:
            rows = self._db.execute("SELECT state FROM docs WHERE source_id = ?", (source_id,)).fetchall()
        states = [DocState.model_validate_json(row[0]) for row in rows]
        return {s.doc_id: s for s in states}

    async def documents(self, source_id: str) -> dict[str, DocState]:
        """Every document stored for a source."""
        return await asyncio.to_thread(self._all, source_id)

    def _put(self, source_id: str, states: list[DocState]) -> None:
        rows = [(source_id, state.doc_id, state.model_dump_json()) for state in states]
        with self._lock, transaction(self._db):
            self._db.executemany("INSERT OR REPLACE INTO docs VALUES (?, ?, ?)", rows)

    async def put(self, source_id: str, state: DocState) -> None:
        """Record a document as stored."""
        await asyncio.to_thread(self._put, source_id, [state])

    async def put_many(self, source_id: str, states: list[DocState]) -> None:
        """Record several documents as stored, in one transaction."""
        if states:
            await asyncio.to_thread(self._put, source_id, states)

    def _delete(self, source_id: str, doc_id: str | None) -> None:
        with self._lock:
            if doc_id is None:
                self._db.execute("DELETE FROM docs WHERE source_id = ?", (source_id,))
            else:
                self._db.execute("DELETE FROM docs WHERE source_id = ? AND doc_id = ?", (source_id, doc_id))

    async def delete(self, source_id: str, doc_id: str | None = None) -> None:
        """Forget one document, or a whole source."""
        await asyncio.to_thread(self._delete, source_id, doc_id)

    def _sources(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT source_id FROM docs ORDER BY 1")]

    async def sources(self) -> list[str]:
        """Ids of every source with stored documents."""
        return await asyncio.to_thread(self._sources)

    def _replace_with(self, other: Path) -> None:
        with self._lock:
            self._db.execute("ATTACH DATABASE ? AS fresh", (str(other),))
            try:
                with transaction(self._db, "BEGIN IMMEDIATE"):
                    self._db.execute("DELETE FROM docs")
                    self._db.execute("INSERT INTO docs SELECT source_id, doc_id, state FROM fresh.docs")
            finally:
                self._db.execute("DETACH DATABASE fresh")

    async def replace_with(self, other: Path) -> None:
        """Replace every row with those of the state database at `other`, in one transaction."""
        await asyncio.to_thread(self._replace_with, other)

    async def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def rows_in(path: Path) -> list[tuple[str, DocState]]:
    """Every (source id, document state) of the state file at `path` (none when there is no file), read
    without changing it: for copying into another store."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        found = db.execute("SELECT source_id, state FROM docs ORDER BY 1, 2").fetchall()
    finally:
        db.close()
    return [(source, DocState.model_validate_json(state)) for source, state in found]
