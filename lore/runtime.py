"""Wiring: the sync engine over a knowledge base, with the embedded (on-disk) state."""

from __future__ import annotations

from ingestion.parse_pool import ParsePool
from ingestion.state import SyncState
from ingestion.sync import SyncEngine, SyncLimits
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import FileRegistry


def sync_engine(kb: Knowledge, parser: ParsePool, state: SyncState) -> SyncEngine:
    """A sync engine that writes into `kb`'s index with its embedder and settings."""
    s = kb.settings
    limits = SyncLimits(
        max_bytes=int(s.max_file_mb * 1_000_000), chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap
    )
    return SyncEngine(
        index=kb.index, embedder=kb.embedder, sparse=kb.sparse, state=state, parser=parser, limits=limits
    )


def open_state(kb: Knowledge) -> SyncState:
    """The per-document sync state under `LORE_DATA_DIR`."""
    return SyncState(kb.settings.data_dir / "sync-state.sqlite")


def open_registry(settings: Settings) -> FileRegistry:
    """The embedded source registry under `LORE_DATA_DIR`."""
    return FileRegistry(settings.data_dir / "sources.json")
