"""`lore ingest` and `lore sources`: the sync engine from the terminal."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingestion.connectors.base import ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.sync import SyncResult
from knowledge.access import parse_acl
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source
from lore.runtime import open_state, registry_of, sync_engine

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


async def ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Sync PATH... as source NAME; prints a progress bar and a one-line summary."""
    acl = parse_acl(args.access)
    err = Console(stderr=True)
    if not SOURCE_NAME.match(args.source):
        err.print(
            f"lore ingest: invalid source name {args.source!r}: use lower-case letters, digits, '.', '_' "
            "or '-' (e.g. --source handbook)",
            markup=False,
        )
        return 2
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        err.print(f"lore ingest: no such file or folder: {', '.join(missing)}", markup=False)
        return 2
    connector = FilesConnector(paths, acl)
    parser = ParsePool(workers=1, timeout=settings.parse_timeout)
    async with await Knowledge.open(settings) as kb:
        state = open_state(kb)
        try:
            engine = sync_engine(kb, parser, state)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
                disable=args.json or not err.is_terminal,
            ) as bar:
                task = bar.add_task(f"indexing {args.source}", total=None)

                def advance(done: int, total: int, doc_id: str) -> None:
                    bar.update(task, completed=done, total=total, description=doc_id[-40:])

                try:
                    result = await engine.sync(args.source, connector, progress=advance)
                except ListingError as exc:
                    err.print(f"lore ingest: {exc}; nothing was changed", markup=False)
                    return 1
            await kb.index.optimize()
            source = Source(
                id=args.source,
                location=[str(p.resolve()) for p in paths],
                access=acl,
                every=settings.sync_interval,
                added_by="cli",
            )
            async with registry_of(settings) as registry:
                await registry.put(source)
        finally:
            await state.close()
            await parser.close()
    _report(result, args.json)
    return 1 if result.failed else 0


def _report(result: SyncResult, as_json: bool) -> None:
    if as_json:
        print(result.model_dump_json())
        return
    for error in result.errors:
        print(f"  failed: {error.doc_id}: {error.reason}", file=sys.stderr)
    if result.acl_updated:
        print(f"  access changed on {result.acl_updated} documents (not re-embedded)", file=sys.stderr)
    print(result.line())
