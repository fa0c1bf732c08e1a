"""Which sync state a process uses: Redis when `LORE_REDIS_URL` is set, else a file in `LORE_DATA_DIR`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ingestion.state.model import SyncState
from ingestion.state.shared import SharedSyncState
from ingestion.state.sqlite import FileSyncState
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings

log = logging.getLogger(__name__)

STATE_FILE = "sync-state.sqlite"  # the embedded state, under LORE_DATA_DIR
ADOPTED = ".adopted"  # what a state file is renamed to once Redis holds its rows


def shared_redis(settings: Settings) -> str | None:
    """The Redis that every host keeps what syncs need in (the sync state, the connectors' caches), or None
    when this host keeps them itself: shared exactly when the index is shared too (`LORE_REDIS_URL` and
    `LORE_QDRANT_URL`); beside an embedded index they describe that one index, on this host."""
    return settings.redis_url if settings.redis_url and settings.qdrant_url else None


async def open_sync_state(settings: Settings) -> SyncState:
    """The per-document sync state: in Redis when the index is shared too (`LORE_REDIS_URL` and
    `LORE_QDRANT_URL`: every worker and `lore ingest` see one state of one index), else in
    `LORE_DATA_DIR/sync-state.sqlite` beside the embedded index it describes. Moving to Redis, a state file
    this host kept before is adopted once: the sources Redis lacks are copied, and the file is renamed
    `*.adopted`, so a source removed later is never brought back from it."""
    local = settings.data_dir / STATE_FILE
    url = shared_redis(settings)
    if url is None:
        return FileSyncState(local)
    shared = SharedSyncState(RedisStore(url), owned=True)
    try:
        if await asyncio.to_thread(local.exists):
            copied = await shared.adopt(local)
            await asyncio.to_thread(_set_aside, local)
            log.info("adopted the sync state of %d documents from %s into Redis", copied, local)
    except BaseException:
        await shared.close()
        raise
    return shared


def _set_aside(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{database}{suffix}")
        if path.exists():
            path.replace(Path(f"{database}{suffix}{ADOPTED}"))
