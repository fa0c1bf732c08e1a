"""Writes that end before their caller does: a sync cancelled (shutdown, a job timeout) while it writes to
the index or its state lets that write finish first, then stops.

Without this, cancelling `await index.replace_document(...)` stops the waiting, not the write: Qdrant
Edge's call goes on in its thread and may land after the sync has ended, and after the check that removes
what a sync of a just-removed source stored (see `ingestion.worker.run_sync`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def finished(write: Awaitable[T]) -> T:
    """Await `write` to its end even if the caller is cancelled meanwhile; then honour the cancellation."""
    task = asyncio.ensure_future(write)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller hears about
        raise asyncio.CancelledError
    return task.result()
