"""`lore ingest`: folders synced from the terminal with the same engine as the worker, and registered as a
source (so that the worker keeps them in sync). A source registered with other settings (another kind,
folders, access, overrides or ceiling) is only replaced with `--replace`: replacing it changes who may read
its documents. Deletions the mass-deletion guard holds back need `--allow-deletes`."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingestion.connectors.base import ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.kinds.files import FILES_KIND
from ingestion.scheduler import status_from
from ingestion.source_jobs import WorkerContext
from ingestion.sync import SourceRemoved
from ingestion.sync_result import SyncResult
from knowledge.access import parse_acl
from knowledge.jobs import ALLOW_DELETES
from knowledge.settings import Settings
from knowledge.sources import Source
from lore.commands.host import Host, LocalHost

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


async def ingest(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """Sync PATH... as source NAME; prints a progress bar and a one-line summary."""
    host = host or LocalHost(settings)
    acl = parse_acl(args.access)
    err = console_of(host.terminal.err)
    if not SOURCE_NAME.match(args.source):
        err.print(
            f"lore ingest: invalid source name {args.source!r}: use lower-case letters, digits, '.', '_' "
            "or '-' (e.g. --source handbook)",
            markup=False,
        )
        return 2
    paths = [host.terminal.path(p) for p in args.paths]
    missing = [given for given, p in zip(args.paths, paths, strict=True) if not p.exists()]
    if missing:
        err.print(f"lore ingest: no such file or folder: {', '.join(missing)}", markup=False)
        return 2
    wanted = Source(
        id=args.source,
        location=[str(p) for p in paths],
        access=acl,
        ceiling=parse_acl(args.ceiling) if args.ceiling else None,
        every=settings.sync_interval,
        added_by="cli",
    )
    async with host.worker() as context, host.writing():
        registry = context.registry
        record = await registry.get(args.source)
        if record is not None and not args.replace and (changes := differences(record.source, wanted)):
            err.print(
                f"lore ingest: source {args.source!r} is registered with other settings: "
                f"{'; '.join(changes)}. Replacing it changes who may read its documents: add --replace to "
                "replace it, or give another --source name",
                markup=False,
                soft_wrap=True,
            )
            return 2
        result = await _sync(args, context, wanted, err, known=record is not None)
        if result is None:
            return 1
        if record is None or args.replace:
            await registry.put(wanted)
        await registry.record(wanted.id, status_from(result, await context.engine.index.count(wanted.id)))
    _report(result, args.json, host.terminal.out, host.terminal.err)
    if result.held:
        again = shlex.join(["lore", "ingest", *args.paths, "--source", args.source])
        again += "".join(f" --access {shlex.quote(a)}" for a in args.access)
        again += "".join(f" --ceiling {shlex.quote(c)}" for c in args.ceiling or [])
        print(f"lore ingest: to delete them, confirm with: {again} {ALLOW_DELETES}", file=host.terminal.err)
    return 0 if result.ok else 1


async def _sync(
    args: argparse.Namespace,
    context: WorkerContext,
    source: Source,
    err: Console,
    *,
    known: bool,
) -> SyncResult | None:
    """Sync the folders with a progress bar; None (said on `err`) when the listing failed or the source was
    removed meanwhile (then nothing of it is left)."""
    connector = FilesConnector([Path(p) for p in source.location], source.access)
    engine, registry = context.engine, context.registry

    async def registered() -> bool:  # a source removed (by an admin) while this runs stays removed
        return not known or await registry.get(source.id) is not None

    result: SyncResult | None = None
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=args.json or not err.is_terminal,
        ) as bar:
            task = bar.add_task(f"indexing {source.id}", total=None)

            def advance(done: int, total: int, doc_id: str) -> None:
                bar.update(task, completed=done, total=total, description=doc_id[-40:])

            result = await engine.sync(
                source.id,
                connector,
                progress=advance,
                ceiling=source.ceiling,
                allow_deletes=args.allow_deletes,
                registered=registered,
            )
        await engine.index.optimize()
    except ListingError as exc:
        err.print(f"lore ingest: {exc}; nothing was changed", markup=False)
        return None
    except SourceRemoved:
        pass
    finally:
        if not await registered():
            await engine.remove_source(source.id)
            err.print(
                f"lore ingest: {source.id} was removed meanwhile; nothing of it is left",
                markup=False,
                soft_wrap=True,
            )
            result = None
    return result


def console_of(stream: TextIO) -> Console:
    """A rich console on `stream` (a terminal's, or one relayed from `lore serve`, which says whether the
    terminal at its end is one and how wide)."""
    width = getattr(stream, "width", None)
    tty = getattr(stream, "tty", None)
    return Console(file=stream, width=width, force_terminal=tty)


def differences(registered: Source, wanted: Source) -> list[str]:
    """What would change if `wanted` replaced the `registered` source: kind, folders, access, overrides and
    ceiling, each as "what it is (here: what it would be)"; [] when nothing that matters differs."""

    def shown(values: object) -> str:
        if isinstance(values, dict):
            return "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(values.items())) or "none"
        if isinstance(values, list):
            return ", ".join(values) or "none"
        return str(values) if values is not None else "none"

    found = []
    for name, old, new in (
        ("kind", registered.kind, FILES_KIND),
        ("folders", registered.location, wanted.location),
        ("access", registered.access, wanted.access),
        ("overrides", registered.overrides, wanted.overrides),
        ("ceiling", registered.ceiling, wanted.ceiling),
    ):
        if old != new:
            found.append(f"{name} {shown(old)} (here: {shown(new)})")
    return found


def _report(result: SyncResult, as_json: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        print(result.model_dump_json(), file=out)
        return
    for error in result.errors:
        print(f"  failed: {error.doc_id}: {error.reason}", file=err)
    if result.acl_updated:
        print(f"  access changed on {result.acl_updated} documents (not re-embedded)", file=err)
    print(result.line(), file=out)
