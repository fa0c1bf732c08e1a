"""A Lore connector package: articles of a JSON feed over HTTP (see kind.py and connector.py)."""
