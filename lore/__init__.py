"""The `lore` command line: the only code that wires knowledge/, ingestion/ and bot/ together."""
