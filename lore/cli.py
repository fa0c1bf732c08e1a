"""`lore`: ingest, search, ask, chat and check Lore from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from knowledge.access import AccessError
from knowledge.answering.llm import LLMError
from knowledge.embedding.base import EmbeddingError
from knowledge.index.base import IndexUnavailable
from knowledge.kv.base import StoreUnavailable
from knowledge.logs import configure_logging
from knowledge.settings import Settings, load_settings

if TYPE_CHECKING:
    from lore.commands.host import Host

SERVED = frozenset({"ingest", "sources", "apikey", "search", "ask", "chat"})  # run inside `lore serve`


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="lore", description="Lore: ask your wiki and file shares.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ingest = sub.add_parser("ingest", help="sync folders or files into the index, incrementally")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="folders or files to index")
    ingest.add_argument("--source", required=True, help="source name (one name = one set of paths)")
    ingest.add_argument(
        "--access",
        action="append",
        required=True,
        metavar="ACCESS",
        help="who may read it: public, group:NAME or user:EMAIL (repeat for several)",
    )
    ingest.add_argument(
        "--ceiling",
        action="append",
        metavar="ACCESS",
        help="no document may be readable beyond this: public, group:NAME or user:EMAIL (repeat for several)",
    )
    ingest.add_argument(
        "--replace",
        action="store_true",
        help="replace a source registered under this name with other settings (kind, folders, access)",
    )
    ingest.add_argument(
        "--allow-deletes",
        action="store_true",
        help="delete what is gone even when that is most of the source (after checking it is not unmounted)",
    )
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")

    for name, text in (("search", "the best matching snippets"), ("ask", "a cited answer")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "query",
            metavar="QUERY" if name == "search" else "QUESTION",
            help="the query, or '-' to read one per line from stdin (JSON lines out)",
        )
        _principal_args(cmd)
        cmd.add_argument("--json", action="store_true", help="print JSON (stable contract)")
        if name == "search":
            cmd.add_argument("-k", type=int, default=None, help="number of results (default LORE_TOP_K)")

    chat = sub.add_parser("chat", help="a terminal chat over the same answering pipeline")
    _principal_args(chat)

    bot = sub.add_parser("bot", help="answer in Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    bot.add_argument("--port", type=int, default=None, help="HTTP port (default LORE_HTTP_PORT)")

    worker = sub.add_parser("worker", help="run the sync jobs queued on Redis (needs LORE_REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="run the queued jobs, then exit")

    sources = sub.add_parser("sources", help="list, add, remove or sync sources (what /lore does)")
    sources.add_argument("action", choices=["list", "add", "remove", "sync"])
    sources.add_argument(
        "words", nargs="*", metavar="ARG", help="add: files ID FOLDERS access=... [every=1h]; remove/sync: ID"
    )
    sources.add_argument(
        "--allow-deletes",
        action="store_true",
        help="sync: delete what is gone even when that is most of the source (after checking it is not "
        "unmounted)",
    )

    api = sub.add_parser("api", help="serve the Knowledge API (/v1/search, /v1/answer, /openapi.json)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=None, help="port (default LORE_API_PORT)")

    mcp = sub.add_parser("mcp", help="serve Lore to AI agents over MCP, as the key in LORE_MCP_KEY")
    mcp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=None, help="HTTP port (default LORE_MCP_PORT, 8789)")

    apikey = sub.add_parser("apikey", help="create, list or revoke Knowledge API keys")
    apikey.add_argument("action", choices=["create", "list", "revoke"])
    apikey.add_argument("name", nargs="?", default=None, help="create/revoke: the key's name (or id)")
    apikey.add_argument(
        "--access",
        action="append",
        default=[],
        metavar="ACCESS",
        help="create: what the key may read, beyond public: group:NAME or user:EMAIL (repeat)",
    )
    apikey.add_argument("--rate", type=int, default=None, help="create: requests per minute (0 = no limit)")

    reindex = sub.add_parser(
        "reindex", help="rebuild the index from every source into a new collection, then switch to it"
    )
    reindex.add_argument(
        "--keep-old", action="store_true", help="keep the previous collection (default: delete it after)"
    )

    serve = sub.add_parser(
        "serve",
        help="bot (with Slack tokens), Knowledge API, MCP (with LORE_MCP_KEY) and syncs in one process",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address of the API and MCP ports (default 127.0.0.1)"
    )

    sub.add_parser("doctor", help="print the effective configuration and check every service")
    return parser


def _principal_args(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--groups", default="", help="ask as {public} plus these groups (comma separated)")
    cmd.add_argument("--user", default=None, metavar="EMAIL", help="ask as this person (and their groups)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lore` console script; returns the exit code."""
    line = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(line)
    try:
        settings = load_settings()
    except ValidationError as exc:  # printed, not logged: logging is configured from the settings
        print(f"lore: invalid settings:\n{exc}\nfix the LORE_ variables or .env", file=sys.stderr)
        return 2
    configure_logging(settings, args.verbose)
    try:
        return asyncio.run(_main(args, line, settings))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, line: list[str], settings: Settings) -> int:
    """In the running `lore serve` of the data dir when there is one and the command can run there; else
    here."""
    if args.command not in SERVED:
        return await run_command(args, settings)
    from lore.commands.host import LocalHost
    from lore.serve.address import NotYours
    from lore.serve.client import ControlRefused, relay

    try:
        code = await relay(line, settings.data_dir)
    except (NotYours, ControlRefused) as exc:
        print(f"lore {args.command}: {exc}", file=sys.stderr)
        return 2
    return code if code is not None else await run_command(args, settings, LocalHost(settings))


async def run_command(args: argparse.Namespace, settings: Settings, host: Host | None = None) -> int:
    """Run the parsed command (on `host`, for those in SERVED); the failures people can fix are said on its
    stderr with the fix, and give exit code 2 (the line) or 1 (a service)."""
    from lore.commands import MODULES

    err = host.terminal.err if host is not None else sys.stderr
    module = importlib.import_module(f"lore.commands.{MODULES[args.command]}")
    given = (host,) if host is not None else ()
    try:
        code: int = await getattr(module, args.command)(args, settings, *given)
    except AccessError as exc:
        print(f"lore {args.command}: {exc} (repeat --access for several)", file=err)
        return 2
    except (IndexUnavailable, EmbeddingError, LLMError, StoreUnavailable, FileNotFoundError) as exc:
        print(f"lore {args.command}: {exc}\n(`lore doctor` checks every service)", file=err)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
