"""Kinds of source as plug-ins: the contract a connector package declares (`contract.py`, with shared form
fields in `fields.py` and checks in `checks.py`) and the catalog that finds every installed declaration
through the `lore.connectors` entry points (`catalog.py`)."""
