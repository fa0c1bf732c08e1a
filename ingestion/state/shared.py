"""The sync state in the shared key-value store (Redis), so that every worker of a fleet syncs a source
from what any of them stored: nothing re-fetched or re-embedded that is unchanged, nothing deleted at the
source left behind because another worker indexed it.

One hash per source (`lore:syncstate:<source>`: document id -> its state as JSON) and one hash of the
sources that have any (`lore:syncstate-sources`).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pydantic import ValidationError

from ingestion.state.model import DocState
from ingestion.state.sqlite import rows_in
from knowledge import keys
from knowledge.kv.base import KeyValue

log = logging.getLogger(__name__)


class SharedSyncState:
    """Per-document sync state in `store`; closes the store on `close` when `owned`."""

    def __init__(self, store: KeyValue, *, owned: bool = False) -> None:
        self.store = store
        self._owned = owned

    async def documents(self, source_id: str) -> dict[str, DocState]:
        """Every document stored for a source (a record that no longer parses is left out and logged: the
        next sync stores that document again)."""
        found: dict[str, DocState] = {}
        for doc_id, raw in (await self.store.hgetall(keys.sync_state(source_id))).items():
            try:
                found[doc_id] = DocState.model_validate_json(raw)
            except ValidationError:
                log.error("sync state of %s in %s is unreadable; it is synced again", doc_id, source_id)
        return found

    async def put(self, source_id: str, state: DocState) -> None:
        """Record a document as stored."""
        await self.put_many(source_id, [state])

    async def put_many(self, source_id: str, states: list[DocState]) -> None:
        """Record several documents as stored, in one command."""
        if not states:
            return
        await self.store.hset(keys.sync_state_sources(), source_id, "1")
        fields = {state.doc_id: state.model_dump_json() for state in states}
        await self.store.hset_many(keys.sync_state(source_id), fields)

    async def delete(self, source_id: str, doc_id: str | None = None) -> None:
        """Forget one document, or a whole source."""
        if doc_id is not None:
            await self.store.hdel(keys.sync_state(source_id), doc_id)
            return
        await self.store.delete(keys.sync_state(source_id))
        await self.store.hdel(keys.sync_state_sources(), source_id)

    async def sources(self) -> list[str]:
        """Ids of every source with stored documents."""
        listed = await self.store.hgetall(keys.sync_state_sources())
        return sorted([s for s in listed if await self.store.hgetall(keys.sync_state(s))])

    async def replace_with(self, other: Path) -> None:
        """Replace every source's state with the rows of the SQLite state at `other` (a rebuild's). Not one
        transaction: run it while no sync runs (`lore reindex` is an operator's maintenance step)."""
        rows = await _rows_of(other)
        for source in await self.sources():
            await self.delete(source)
        for source, state in rows:
            await self.put(source, state)

    async def adopt(self, local: Path) -> int:
        """Copy the sources of an SQLite state file (this host's, from before the state was shared) that the
        shared state does not have yet; the number of documents copied. Without this, a source synced before
        the upgrade would look new: everything fetched again, and what was deleted meanwhile kept."""
        have = set(await self.sources())
        copied = 0
        for source, state in await _rows_of(local):
            if source not in have:
                await self.put(source, state)
                copied += 1
        return copied

    async def close(self) -> None:
        """Close the store when this state opened it."""
        if self._owned:
            await self.store.close()


async def _rows_of(path: Path) -> list[tuple[str, DocState]]:
    return await asyncio.to_thread(rows_in, path)
