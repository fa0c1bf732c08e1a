"""One SQLite transaction around several statements on a connection opened in autocommit mode
(`isolation_level=None`), where each statement would otherwise commit (and sync the WAL) on its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[None]:
    """Run the block's statements as one transaction: committed at its end, rolled back if it fails."""
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
