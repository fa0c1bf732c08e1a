"""`lore reindex`: rebuild the index from every registered source into a new collection, then switch to it.

Bots, the API and workers keep answering from the live collection while the new one fills (see
`ingestion.reindex`). With `LORE_QDRANT_URL` the switch is an atomic alias move; in embedded mode the index
folder is swapped and a running `lore bot` must be restarted to read the new one.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack

from ingestion.parse_pool import ParsePool
from ingestion.reindex import Reindexed, ReindexError, reindex_edge, reindex_server
from ingestion.state import SyncState
from ingestion.sync import SyncEngine
from knowledge.embedding.factory import open_embedder
from knowledge.index.base import Index
from knowledge.index.factory import server_client
from knowledge.settings import Settings
from lore.runtime import engine_over, registry_of


async def reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild, switch, and print what was done; exit 1 (nothing switched) when a source cannot be listed."""
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(registry_of(settings))
        if not await registry.all():
            print(
                "lore reindex: no sources are registered: nothing to rebuild (`lore sources list`)",
                file=sys.stderr,
            )
            return 2
        embedder = open_embedder(settings)
        stack.push_async_callback(embedder.close)
        parser = ParsePool(workers=1, timeout=settings.parse_timeout)
        stack.push_async_callback(parser.close)

        def engine_for(index: Index, state: SyncState) -> SyncEngine:
            return engine_over(settings, index, embedder, parser, state)

        try:
            if settings.qdrant_url:
                client = server_client(settings)
                stack.push_async_callback(client.close)
                done = await reindex_server(settings, registry, client, engine_for, args.keep_old)
            else:
                done = await reindex_edge(settings, registry, engine_for)
        except ReindexError as exc:
            print(f"lore reindex: {exc}", file=sys.stderr)
            return 1
    print(report(done, settings))
    return 0


def report(done: Reindexed, settings: Settings) -> str:
    """What a rebuild did, for the terminal."""
    lines = [*done.sources, f"rebuilt {done.chunks} chunks in {done.seconds:.1f} s into {done.built}"]
    if settings.qdrant_url:
        lines.append(f"alias {settings.collection} now names {done.built}")
        if done.previous is not None:
            lines.append(
                f"previous collection {done.previous} " + ("kept" if done.previous_kept else "dropped")
            )
    elif done.previous is not None:
        lines.append(
            f"previous index kept in {done.previous}: restart a running `lore bot`, then delete that folder"
        )
    return "\n".join(lines)
