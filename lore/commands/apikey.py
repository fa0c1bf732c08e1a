"""`lore apikey create|list|revoke`: what `/lore apikey` does, from the terminal.

`create` prints the key alone on stdout (`KEY=$(lore apikey create support-agent --access group:support)`)
and everything else on stderr: the key is shown this once, only its hash is stored. Keys live in Redis when
`LORE_REDIS_URL` is set, else in `LORE_DATA_DIR/apikeys.json`. Every change is audited as `cli:<user>`.
"""

from __future__ import annotations

import argparse
import getpass
import time
from typing import TextIO

from bot.admin.api_keys import audit_detail, parse_rate, rate_text
from knowledge.access import PUBLIC, parse_acl
from knowledge.apikeys import ApiKey, ApiKeys, open_keys
from knowledge.audit import AuditEntry, AuditLog, open_audit
from knowledge.settings import Settings
from lore.commands.host import Host, LocalHost

EXAMPLE = "lore apikey create support-agent --access group:support --rate 120"


class Usage(ValueError):
    """A command line `lore apikey` cannot carry out; the message says what to write."""


async def apikey(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """Create, list or revoke Knowledge API keys; 2 (and a message on stderr) when the line is wrong."""
    host = host or LocalHost(settings)
    out, err = host.terminal.out, host.terminal.err
    async with host.redis() as store:
        keys, audit = open_keys(settings, store), open_audit(settings, store)
        who = f"cli:{getpass.getuser()}"
        try:
            if args.action == "list":
                return await _list(keys, args, out)
            if not args.name:
                raise Usage(f"missing the key's name, e.g. `{EXAMPLE}`")
            if args.action == "create":
                return await _create(keys, audit, args, settings, who, host)
            if args.access or args.rate is not None:
                raise Usage("`revoke` takes only the key's name (or id)")
            record = await keys.revoke(args.name)
        except ValueError as exc:  # Usage, ApiKeyError, AccessError
            print(f"lore apikey {args.action}: {exc}", file=err)
            return 2
        await _audit(audit, who, "apikey-revoke", record)
        print(f"revoked {record.name} ({record.id}): requests with it are refused from now on", file=out)
        return 0


async def _create(
    keys: ApiKeys, audit: AuditLog, args: argparse.Namespace, settings: Settings, who: str, host: Host
) -> int:
    access = [a for given in args.access for a in given.split(",") if a.strip()]
    grants = parse_acl([*access, PUBLIC])
    rate = settings.api_rate_limit if args.rate is None else parse_rate(str(args.rate))
    record, key = await keys.create(args.name, grants, rate, created_by=who)
    await _audit(audit, who, "apikey-create", record)
    print(key, file=host.terminal.out, flush=True)
    print(
        f"Created API key {record.name} ({record.id}): reads {', '.join(record.grants)} · "
        f"{rate_text(record.rate_limit)}.\nThe key above is shown this once: Lore keeps only its hash. Send "
        "it as `Authorization: Bearer <key>` to `lore api`, or set LORE_MCP_KEY=<key> for `lore mcp`. Lost "
        f"or leaked? `lore apikey revoke {record.name}`, then create another.",
        file=host.terminal.err,
    )
    return 0


async def _list(keys: ApiKeys, args: argparse.Namespace, out: TextIO) -> int:
    if args.name or args.access or args.rate is not None:
        raise Usage("`list` takes no name or options")
    records = await keys.all()
    if not records:
        print(f"no API keys yet: `{EXAMPLE}`", file=out)
    for k in records:
        state = "active" if k.active else f"revoked {_when(k.revoked_at or 0)}"
        created = f"created {_when(k.created_at)} by {k.created_by or 'unknown'}"
        print(
            f"{k.name}\t{k.id}\t{','.join(k.grants)}\t{rate_text(k.rate_limit)}\t{created}\t{state}", file=out
        )
    return 0


async def _audit(audit: AuditLog, who: str, action: str, record: ApiKey) -> None:
    entry = AuditEntry(
        at=time.time(), who=who, action=action, target=record.name, detail=audit_detail(record)
    )
    await audit.record(entry)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
