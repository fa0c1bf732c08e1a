"""The filesystem connector: a local folder or a mounted share (the most common "file share")."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from ingestion.connectors.base import DocumentRef, ListingError, acl_by_prefix


class FilesConnector:
    """Every non-hidden file under the given roots; acl from a default plus per-folder overrides.

    doc ids are paths relative to the root with '/' separators; with several roots each id starts with its
    root's name so that ids stay unique. `overrides` maps a folder prefix (e.g. "finance") to its acl; the
    longest matching prefix wins.
    """

    kind = "files"

    def __init__(
        self, roots: list[Path], acl: list[str], overrides: dict[str, list[str]] | None = None
    ) -> None:
        self.roots = [r.resolve() for r in roots]
        self.acl = acl
        self.overrides = overrides or {}

    def _walk(self) -> Iterator[tuple[str, Path]]:
        prefix = len(self.roots) > 1
        for root in self.roots:
            if not root.exists():
                raise ListingError(f"{root} does not exist (or the share is not mounted)")
            if root.is_file():
                yield root.name, root
                continue
            for folder, dirs, files in os.walk(root, onerror=_raise):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.startswith("~$"):
                        continue
                    path = Path(folder) / name
                    rel = path.relative_to(root).as_posix()
                    yield (f"{root.name}/{rel}" if prefix else rel), path

    def acl_of(self, doc_id: str) -> list[str]:
        """The acl of a document: the override of its deepest folder prefix, else the default."""
        return acl_by_prefix(doc_id, self.acl, self.overrides)

    def _listing(self) -> list[DocumentRef]:
        refs: list[DocumentRef] = []
        seen: set[str] = set()
        for doc_id, path in self._walk():
            if doc_id in seen:
                raise ListingError(
                    f"two files have the document id {doc_id!r}: ingest their common parent "
                    "folder instead of the files one by one"
                )
            seen.add(doc_id)
            try:
                stat = path.stat()
            except OSError as exc:
                raise ListingError(f"cannot read {path}: {exc.strerror}") from exc
            refs.append(
                DocumentRef(
                    doc_id=doc_id,
                    version=f"{stat.st_size}:{stat.st_mtime_ns}",
                    acl=self.acl_of(doc_id),
                    updated_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                    title=path.stem.replace("_", " "),
                    url=path.as_uri(),
                    size=stat.st_size,
                )
            )
        return refs

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every file, listed in a worker thread (shares can be slow)."""
        for ref in await asyncio.to_thread(self._listing):
            yield ref

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """The file itself: nothing is copied."""
        return Path(unquote(urlparse(ref.url).path))


def _raise(error: OSError) -> None:
    raise ListingError(f"cannot list {error.filename}: {error.strerror}")
