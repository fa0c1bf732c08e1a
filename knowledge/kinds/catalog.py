"""Which kinds of source are installed: every `ConnectorKind` registered under the `lore.connectors` entry
points of the installed packages, Lore's own included.

A kind whose entry point fails to load (its package does not import, or declares something wrong) is kept
as broken, with the error, and every other kind works. `load_kinds()` builds a catalog; `installed_kinds()`
is the one of this process, loaded once (entry points change only when packages are (un)installed, which
takes a restart): pydantic validators and module-level usage lines have no other way to be handed one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from pydantic import BaseModel, Field

from knowledge.kinds.contract import GROUP, ConnectorKind

log = logging.getLogger(__name__)

OWN_PACKAGE = "lore"  # Lore's own kinds win a name that another package declares too


class BrokenKind(BaseModel):
    """A declared kind that cannot be used, and why."""

    name: str
    package: str = Field(description="The package that declares it, with its version.")
    error: str


class KindCatalog(BaseModel):
    """The installed kinds by name (in their `order`), the broken ones, and name clashes."""

    kinds: dict[str, ConnectorKind] = Field(default_factory=dict)
    broken: dict[str, BrokenKind] = Field(default_factory=dict)
    clashes: list[str] = Field(default_factory=list, description="Kinds declared by two packages.")

    def get(self, name: str) -> ConnectorKind | None:
        """The kind called `name`, or None when none is installed or it is broken."""
        return self.kinds.get(name)

    def names(self) -> str:
        """The installed kinds, for messages: `files`, `smb`, …"""
        return ", ".join(f"`{k}`" for k in self.kinds) or "none (reinstall Lore: pip install lore)"

    def missing(self, name: str) -> str:
        """Why no source of kind `name` can be synced now, and how to fix it."""
        if (broken := self.broken.get(name)) is not None:
            return (
                f"no connector for kind {name!r}: its package {broken.package} failed to load "
                f"({broken.error}); fix or reinstall that package where Lore runs (`lore doctor` shows it)"
            )
        return (
            f"no connector for kind {name!r}: no installed package declares the kind {name!r} (installed: "
            f"{self.names()}); install the package that provides it where Lore runs, or remove the source"
        )


def load_kinds(found: Iterable[EntryPoint] | None = None) -> KindCatalog:
    """The kinds the entry points `found` declare (default: those of the `lore.connectors` group)."""
    points = sorted(entry_points(group=GROUP) if found is None else found, key=_precedence)
    catalog = KindCatalog()
    loaded: list[ConnectorKind] = []
    for point in points:
        package = _package(point)
        if point.name in {k.name for k in loaded} or point.name in catalog.broken:
            catalog.clashes.append(f"kind {point.name!r} is declared again by {package}: ignored")
            continue
        try:
            kind = point.load()
            if not isinstance(kind, ConnectorKind):
                raise TypeError(f"{point.value} is a {type(kind).__name__}, not a ConnectorKind")
            if kind.name != point.name:
                raise ValueError(f"{point.value} declares {kind.name!r} under the entry point {point.name!r}")
        except Exception as exc:  # any failure of a plug-in costs that kind only
            log.warning("kind %r of %s failed to load: %s", point.name, package, exc)
            catalog.broken[point.name] = BrokenKind(
                name=point.name, package=package, error=f"{type(exc).__name__}: {exc}"
            )
            continue
        loaded.append(kind)
    catalog.kinds = {k.name: k for k in sorted(loaded, key=lambda k: (k.order, k.name))}
    return catalog


@functools.cache
def installed_kinds() -> KindCatalog:
    """The kinds installed where this process runs, loaded once."""
    return load_kinds()


def _package(point: EntryPoint) -> str:
    dist = point.dist
    return f"{dist.name} {dist.version}" if dist is not None else point.value.partition(":")[0]


def _precedence(point: EntryPoint) -> tuple[bool, str]:
    dist = point.dist
    name = dist.name if dist is not None else ""
    return name != OWN_PACKAGE, name
