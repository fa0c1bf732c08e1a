"""The fields each kind of source asks for in the `/lore add` modal and its one-line form: as each installed
kind declares them (knowledge/kinds/), nothing written here per kind.

Fields marked `option` are the kind's settings (`Source.options`, e.g. user=, namespaces=); the others fill
the source's own fields. `bot/admin/source_input.py` reads what was typed into a `Source`.
"""

from __future__ import annotations

from knowledge.kinds.catalog import installed_kinds
from knowledge.kinds.contract import (
    ACCESS,
    CEILING,
    CREDENTIALS,
    EVERY,
    ID,
    LOCATION,
    OVERRIDES,
    ConnectorKind,
    FieldSpec,
)

__all__ = [
    "ACCESS",
    "CEILING",
    "CREDENTIALS",
    "EVERY",
    "ID",
    "KINDS",
    "LOCATION",
    "OVERRIDES",
    "FieldSpec",
    "first_kind",
]

KINDS: dict[str, ConnectorKind] = installed_kinds().kinds  # each kind's `label`, `fields`, `location_word`


def first_kind() -> str:
    """The kind the add form opens with: the first installed (folders, by Lore's own order)."""
    return next(iter(KINDS), "files")
