"""One coroutine per `lore` subcommand: `(args, settings) -> exit code`."""

from lore.commands.api import api
from lore.commands.apikey import apikey
from lore.commands.bot import bot
from lore.commands.doctor import doctor
from lore.commands.ingest import ingest
from lore.commands.mcp import mcp
from lore.commands.query import ask, chat, search
from lore.commands.reindex import reindex
from lore.commands.sources import sources
from lore.commands.worker import worker

__all__ = [
    "api",
    "apikey",
    "ask",
    "bot",
    "chat",
    "doctor",
    "ingest",
    "mcp",
    "reindex",
    "search",
    "sources",
    "worker",
]
