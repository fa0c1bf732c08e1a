"""No orphans: a `lore ingest` killed with SIGKILL (no clean-up runs) leaves no parser process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from ingestion.state.sqlite import rows_in
from tests.test_worker import notes

LORE = str(Path(sys.executable).parent / "lore")


def _stored(state_db: Path) -> int:
    """Documents in the embedded sync state file (0 before the table exists or while it is locked)."""
    try:
        return len(rows_in(state_db))
    except sqlite3.OperationalError:
        return 0


def children(pid: int) -> dict[int, str]:
    """The live processes whose parent is `pid`: pid -> command line (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):  # it ended meanwhile
                continue
    return found


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_a_killed_lore_ingest_leaves_no_parser_process_behind(tmp_path: Path) -> None:
    docs = notes(tmp_path, 30)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    env["LORE_DATA_DIR"] = str(tmp_path / "data")
    state_db = tmp_path / "data" / "sync-state.sqlite"
    with (tmp_path / "ingest.log").open("wb") as log:
        ingest = await asyncio.create_subprocess_exec(
            LORE,
            "ingest",
            str(docs),
            "--source",
            "docs",
            "--access",
            "public",
            env=env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 120
        while _stored(state_db) < 1:  # a document is in: its parser process is up and working
            assert ingest.returncode is None and time.monotonic() < deadline, (
                tmp_path / "ingest.log"
            ).read_text()
            await asyncio.sleep(0.05)  # polling another process: nothing to wait on
        spawned = children(ingest.pid)
        assert any("multiprocessing" in command for command in spawned.values()), spawned
        ingest.send_signal(signal.SIGKILL)
        await ingest.wait()
    for _ in range(200):  # up to 10 s
        if not any(alive(pid) for pid in spawned):
            break
        await asyncio.sleep(0.05)  # polling other processes: nothing to wait on
    assert not [command for pid, command in spawned.items() if alive(pid)]
    assert _stored(state_db) < 30  # it was killed mid-way, as intended
