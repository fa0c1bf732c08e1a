"""`lore sources list|add|remove|sync`: what `/lore` does, from the terminal.

`add` takes the one-line form of `/lore add` (`files <id> <folders> access=… [every=1h]
[override=folder:access] [credentials=LORE_SECRET_X]`). With `LORE_REDIS_URL` set, `add` and `sync` queue a
job for `lore worker`; in embedded mode they sync here and now. Every change is audited as `cli:<user>`. The
terminal may add any folder; credentials and URLs are bounded as from Slack (knowledge/source_policy.py).
"""

from __future__ import annotations

import argparse
import getpass
import time
from contextlib import AsyncExitStack
from typing import TextIO

from bot.admin.source_input import CEILING_USAGE, fields_from_line, source_from_fields
from knowledge.audit import AuditEntry, open_audit
from knowledge.jobs import ALLOW_DELETES, DELETE, SYNC, JobRequest
from knowledge.jobs_arq import ArqJobs
from knowledge.kinds.catalog import KindCatalog, installed_kinds
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import Registry, kind_warning
from lore.commands.host import Host, LocalHost


def usage(catalog: KindCatalog) -> str:
    """The usage lines of `lore sources`: one `add` line per installed kind."""
    adds = [f"lore sources add {k.name} {k.usage}" for k in catalog.kinds.values()]
    return "\n".join(
        [
            "usage: " + (adds[0] if adds else "lore sources add <kind> <id> <location> …"),
            *(f"       {line}" for line in adds[1:]),
            f"       any kind also takes {CEILING_USAGE}: no document readable beyond it",
            "       lore sources sync <id> [--allow-deletes]",
            "       (the same words as /lore add; `lore doctor` lists the installed kinds; see "
            "docs/admin-guide.md, Connectors)",
        ]
    )


async def sources(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """List, add, remove or sync sources."""
    host = host or LocalHost(settings)
    out, err = host.terminal.out, host.terminal.err
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(host.redis())
        registry = await stack.enter_async_context(host.registry())
        who = f"cli:{getpass.getuser()}"
        if args.action == "list":
            return await _list(registry, out)
        if args.action == "add":
            try:
                kind, values = fields_from_line(args.words)
                source = source_from_fields(kind, values, added_by="cli")
            except ValueError as exc:  # FormError (a field) or the line itself
                print(f"lore sources add: {exc}\n{usage(installed_kinds())}", file=err)
                return 2
            if refused := refusals(source, settings, from_slack=False):
                print(f"lore sources add: {'; '.join(refused.values())}", file=err)
                return 2
            if await registry.get(source.id) is not None:
                print(f"lore sources add: {source.id!r} exists; remove it first", file=err)
                return 2
            await registry.put(source)
            await open_audit(settings, store).record(
                AuditEntry(
                    at=time.time(), who=who, action="add", target=source.id, detail=" ".join(args.words)
                )
            )
            return await _job("sync", source.id, registry, host, stack, allow_deletes=False)
        name = args.words[0] if args.words else ""
        if await registry.get(name) is None:
            known = ", ".join(r.source.id for r in await registry.all()) or "none"
            print(f"lore sources {args.action}: unknown source {name!r}; known: {known}", file=err)
            return 2
        allow = args.action == "sync" and args.allow_deletes
        await open_audit(settings, store).record(
            AuditEntry(
                at=time.time(),
                who=who,
                action=args.action,
                target=name,
                detail=ALLOW_DELETES if allow else "",
            )
        )
        return await _job(args.action, name, registry, host, stack, allow_deletes=allow)


async def _list(registry: Registry, out: TextIO) -> int:
    records = await registry.all()
    if not records:
        print(
            "no sources yet: `lore sources add files wiki /srv/wiki access=public` (or `lore ingest`)",
            file=out,
        )
    for r in records:
        s = r.status
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_sync)) if s.last_sync else "never"
        health = "ok" if s.ok else ("failed" if s.ok is False else "-")
        summary, warning = s.summary, kind_warning(r.source)
        if warning and warning not in summary:  # before a sync says so
            summary = warning + (f" (last sync: {summary})" if summary else "")
        print(
            f"{r.source.id}\t{s.state}\tlast sync {when}\t{health}\t{s.in_index} chunks\t{summary}", file=out
        )
    return 0


async def _job(
    kind: str,
    name: str,
    registry: Registry,
    host: Host,
    stack: AsyncExitStack,
    *,
    allow_deletes: bool,
) -> int:
    """Queue a sync or removal for `lore worker` (Redis), or run it on this host (embedded: here, or in the
    running `lore serve`), as the worker would, and say how it went."""
    out = host.terminal.out
    request = JobRequest(source_id=name, allow_deletes=allow_deletes)
    if host.queues_jobs and host.settings.redis_url:
        jobs = await ArqJobs.open(host.settings.redis_url)
        stack.push_async_callback(jobs.close)
        queued = await (jobs.request_sync if kind == "sync" else jobs.request_delete)(request)
        print(
            f"{kind} of {name} {'queued for `lore worker`' if queued else 'is already queued or running'}",
            file=out,
        )
        return 0
    await host.run_job(DELETE if kind == "remove" else SYNC, request)
    record = await registry.get(name)
    if kind == "remove":
        print(
            f"removed {name} and all its chunks"
            if record is None
            else f"removing {name} failed: see the log",
            file=out,
        )
        return 0 if record is None else 1
    print(record.status.summary if record else f"{name}: removed meanwhile", file=out)
    return 0 if record and record.status.ok else 1
