"""The sync engine's memory of what it stored: the model and its two stores (see `model`)."""

from ingestion.state.model import DocState, SyncState
from ingestion.state.opening import STATE_FILE, open_sync_state
from ingestion.state.shared import SharedSyncState
from ingestion.state.sqlite import FileSyncState

__all__ = ["STATE_FILE", "DocState", "FileSyncState", "SharedSyncState", "SyncState", "open_sync_state"]
