"""One coroutine per `lore` subcommand: `(args, settings) -> exit code`, each in its own module.

Nothing is imported here: `lore` imports only the module of the command it runs (`MODULES`), so that
`lore apikey list` does not pay for the MCP server, the Slack app and Qdrant's client.
"""

MODULES = {  # subcommand -> module under lore.commands that defines a coroutine of the same name
    "ingest": "ingest",
    "search": "query",
    "ask": "query",
    "chat": "query",
    "bot": "bot",
    "worker": "worker",
    "sources": "sources",
    "api": "api",
    "mcp": "mcp",
    "apikey": "apikey",
    "reindex": "reindex",
    "doctor": "doctor",
    "serve": "serve",
}
