"""Lore's own kinds of source, declared as plug-ins: each module declares one `ConnectorKind` and imports
only `knowledge.kinds`; pyproject.toml registers them under the `lore.connectors` entry points, as an
outside package registers its own. Their connectors are in ingestion/connectors/."""
