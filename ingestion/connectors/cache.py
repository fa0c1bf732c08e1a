"""What a connector keeps between syncs (a wiki's page list, a site's ETags): one JSON file per kind in a
folder per source, replaced atomically, and only ever an optimisation: a missing or unreadable cache costs
one full listing, never a wrong one."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def cache_dir(source: Source, settings: Settings) -> Path:
    """Where a connector keeps what it learnt between syncs: per source, per host."""
    return settings.data_dir / "connectors" / source.id


def read_cache(path: Path, model: type[M]) -> M | None:
    """The cached `model` at `path`; None when there is none or it cannot be read (logged)."""
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("ignoring the connector cache %s (%s): the next listing lists everything", path, exc)
        return None


def write_cache(path: Path, value: BaseModel) -> None:
    """Replace the cache at `path` with `value` in one step (a crash leaves the old one or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(value.model_dump_json())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
