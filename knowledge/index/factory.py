"""Choosing the index backend from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from knowledge.index.base import Index
from knowledge.settings import Settings

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient

# Seconds before a call to a Qdrant server is abandoned (Settings has no knob for it yet).
QDRANT_TIMEOUT = 10


def open_index(settings: Settings) -> Index:
    """The configured index: a Qdrant server when `LORE_QDRANT_URL` is set, else Qdrant Edge on disk.

    Nothing is contacted here; both backends open or create their collection on first use (or on
    `await index.ensure()`, which surfaces an unreachable store early as `IndexUnavailable`).
    The caller owns the index and must `await index.close()`.
    """
    if settings.qdrant_url:
        from knowledge.index.server import ServerIndex

        client = server_client(settings)
        return ServerIndex(client, settings.collection, settings.embedding_dim, settings.qdrant_replication)
    from knowledge.index.edge import EdgeIndex

    return EdgeIndex(settings.index_dir, settings.embedding_dim)


def server_client(settings: Settings) -> AsyncQdrantClient:
    """A client of the Qdrant server at `LORE_QDRANT_URL` (the caller closes it)."""
    from qdrant_client import AsyncQdrantClient

    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    # no version check here: it is a blocking HTTP call in the constructor
    return AsyncQdrantClient(
        url=settings.qdrant_url, api_key=api_key, timeout=QDRANT_TIMEOUT, check_compatibility=False
    )
