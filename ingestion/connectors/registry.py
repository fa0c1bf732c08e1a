"""The connector of a registered source, built as its kind's declaration says (knowledge/kinds/)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import cast

from ingestion.connectors.base import Connector, ListingError
from knowledge.kinds.catalog import KindCatalog, installed_kinds
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import CredentialsError, Source

Builder = Callable[[Source, Settings], Connector]


def connector_for(source: Source, settings: Settings) -> Connector:
    """The connector of `source`. What stops it from being built (a kind no installed package declares or
    whose package fails to load, missing credentials, a source beyond the bounds of
    knowledge/source_policy.py, e.g. a Slack-added folder outside LORE_FILES_ROOTS) fails like a listing,
    so nothing is pruned, and the reason is the source's status."""
    if refused := refusals(source, settings):
        raise ListingError("; ".join(refused.values()), retryable=False)
    build = builder_of(source.kind)
    try:
        return build(source, settings)
    except CredentialsError as exc:
        raise ListingError(f"credentials: {exc}", retryable=False) from exc


def builder_of(name: str, catalog: KindCatalog | None = None) -> Builder:
    """What builds the connector of kind `name` (imported now: the worker alone imports a connector's
    modules); ListingError, not retryable, says what is missing and how to fix it."""
    found = catalog or installed_kinds()
    kind = found.get(name)
    if kind is None:
        raise ListingError(found.missing(name), retryable=False)
    if not kind.connector:
        raise ListingError(f"a {name} source is asked at question time: nothing to sync", retryable=False)
    module, _, path = kind.connector.partition(":")
    try:
        target: object = import_module(module)
        for attribute in path.split("."):
            target = getattr(target, attribute)
    except Exception as exc:  # a plug-in's import error costs its own sources only
        raise ListingError(
            f"the connector of kind {name!r} ({kind.connector}) failed to load ({type(exc).__name__}: "
            f"{exc}): fix or reinstall the package that provides it where the sync worker runs",
            retryable=False,
        ) from exc
    if not callable(target):
        raise ListingError(
            f"the connector of kind {name!r} ({kind.connector}) is no callable", retryable=False
        )
    return cast(Builder, target)
