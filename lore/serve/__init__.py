"""`lore serve`'s control endpoint: terminal commands run inside the process that holds the index.

While `lore serve` runs, it listens on a loopback port for the terminal commands that need the index or the
registry (`ingest`, `sources`, `apikey`, `search`, `ask`, `chat`). The port and a random token are in
`LORE_DATA_DIR/serve.json`, readable by the data dir's owner only: whoever can read it may run those
commands, exactly as whoever can read the data dir could before. A command finds the file, sends its own
command line over a WebSocket, and relays what the command prints (and, when it asks, its standard input);
without a running `lore serve` it runs on its own as before.
"""
