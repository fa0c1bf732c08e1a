"""A command line received by `lore serve`, run there as the terminal would run it."""

from __future__ import annotations

from lore.cli import SERVED, build_parser, run_command
from lore.commands.host import Host


async def commands_on(argv: list[str], host: Host) -> int:
    """Parse `argv` as `lore` does and run it on `host`; only the commands that may run inside `lore serve`
    (SERVED). The client parsed the same line already, so a parse error means another version of Lore."""
    args = build_parser().parse_args(argv)
    if args.command not in SERVED:
        print(f"lore serve: `lore {args.command}` does not run inside `lore serve`", file=host.terminal.err)
        return 2
    return await run_command(args, host.settings, host)
