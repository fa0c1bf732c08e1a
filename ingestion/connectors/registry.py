"""The connector of a registered source, by its kind."""

from __future__ import annotations

from pathlib import Path

from ingestion.connectors.base import Connector, ListingError
from ingestion.connectors.files import FilesConnector
from knowledge.settings import Settings
from knowledge.source_kinds import CONFLUENCE_KIND, FILES_KIND, MEDIAWIKI_KIND, SMB_KIND, WEB_KIND
from knowledge.source_policy import refusals
from knowledge.sources import CredentialsError, Source


def connector_for(source: Source, settings: Settings) -> Connector:
    """The connector of `source`. What stops it from being built (an unknown kind, missing credentials, a
    source beyond the bounds of knowledge/source_policy.py, e.g. a Slack-added folder outside
    LORE_FILES_ROOTS) fails like a listing, so nothing is pruned, and the reason is the source's status."""
    if refused := refusals(source, settings):
        raise ListingError("; ".join(refused.values()), retryable=False)
    try:
        return _build(source, settings)
    except CredentialsError as exc:
        raise ListingError(f"credentials: {exc}", retryable=False) from exc


def _build(source: Source, settings: Settings) -> Connector:
    if source.kind == FILES_KIND:
        return FilesConnector([Path(p) for p in source.location], source.access, source.overrides)
    if source.kind == SMB_KIND:
        from ingestion.connectors.smb import SmbConnector

        return SmbConnector.from_source(source, settings)
    if source.kind == MEDIAWIKI_KIND:
        from ingestion.connectors.mediawiki import MediaWikiConnector

        return MediaWikiConnector.from_source(source, settings)
    if source.kind == CONFLUENCE_KIND:
        from ingestion.connectors.confluence import ConfluenceConnector

        return ConfluenceConnector.from_source(source, settings)
    if source.kind == WEB_KIND:
        from ingestion.connectors.web import WebConnector

        return WebConnector.from_source(source, settings)
    raise ListingError(f"no connector for kind {source.kind!r} in this version of Lore", retryable=False)
