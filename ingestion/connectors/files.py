"""The filesystem connector: a local folder or a mounted share (the most common "file share")."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from ingestion.connectors.base import DocumentRef, ListingError, acl_by_prefix
from ingestion.kinds.files import FILES_KIND
from knowledge.settings import Settings
from knowledge.sources import Source

SHOWN_LINKS = 5  # links named in the note about links leading out of the source


class FilesConnector:
    """Every non-hidden regular file under the given roots; acl from a default plus per-folder overrides.

    doc ids are paths relative to the root with '/' separators; with several roots each id starts with its
    root's name so that ids stay unique. `overrides` maps a folder prefix (e.g. "finance") to its acl; the
    longest matching prefix wins.

    Links are never followed: a symbolic link whose target lies outside every root is left out (`notes`
    says how many), and one whose target lies inside adds nothing, since the target is listed under its
    own path and with that path's access. A dangling link, a FIFO, a socket, a device, and a file or
    folder that cannot be read are listed as failed entries (`DocumentRef.problem`): the listing goes on.
    """

    kind = FILES_KIND

    def __init__(
        self, roots: list[Path], acl: list[str], overrides: dict[str, list[str]] | None = None
    ) -> None:
        self.roots = [r.resolve() for r in roots]
        self.acl = acl
        self.overrides = overrides or {}
        self.notes: list[str] = []  # set by each listing: the links left out

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> FilesConnector:
        """The connector of a registered `files` source."""
        return cls([Path(p) for p in source.location], source.access, source.overrides)

    def _walk(self, escaping: list[str]) -> Iterator[tuple[str, Path, str]]:
        """(doc id, path, problem) of every entry to list; links leading out of the roots go to `escaping`."""
        prefix = len(self.roots) > 1
        for root in self.roots:
            if not root.exists():
                raise ListingError(f"{root} does not exist (or the share is not mounted)")
            if root.is_file():
                yield root.name, root, ""
                continue
            if not root.is_dir():
                raise ListingError(f"{root} is neither a folder nor a file: give a folder to index")
            yield from self._folder(root, root, f"{root.name}/" if prefix else "", escaping)

    def _folder(
        self, root: Path, folder: Path, prefix: str, escaping: list[str]
    ) -> Iterator[tuple[str, Path, str]]:
        """The entries of one folder (by name), then those of its subfolders, depth first."""
        rel = folder.relative_to(root).as_posix()
        base = prefix + ("" if rel == "." else rel + "/")
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if folder == root:
                raise ListingError(f"cannot list {folder}: {exc.strerror}") from exc
            yield base, folder, f"cannot list this folder ({exc.strerror}): its files are left out"
            return
        subfolders = []
        for entry in entries:
            if entry.name.startswith((".", "~$")):
                continue
            path, doc_id = Path(entry.path), base + entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # deleted while the folder was being listed
            except OSError as exc:
                yield doc_id, path, f"cannot read it ({exc.strerror})"
                continue
            if stat.S_ISDIR(mode):
                subfolders.append(path)
            elif stat.S_ISLNK(mode):
                problem = self._link(path)
                if problem is None:
                    escaping.append(doc_id)
                elif problem:
                    yield doc_id, path, problem
            elif not stat.S_ISREG(mode):
                yield doc_id, path, f"not a regular file but {_odd(mode)}: Lore reads files only"
            elif not os.access(path, os.R_OK):
                yield (
                    doc_id,
                    path,
                    "Lore may not read this file (permission denied): give its account read access",
                )
            else:
                yield doc_id, path, ""
        for sub in subfolders:
            yield from self._folder(root, sub, prefix, escaping)

    def _link(self, path: Path) -> str | None:
        """What to list for a symbolic link: a problem, "" (nothing: its target inside the roots is listed
        under its own path), or None when it leads outside every root (never followed)."""
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"a link to {os.readlink(path)}, which does not exist (a dangling link)"
        except (OSError, RuntimeError):
            return "a link that cannot be followed (a loop of links?)"
        return "" if self._inside(target) else None

    def _inside(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def acl_of(self, doc_id: str) -> list[str]:
        """The acl of a document: the override of its deepest folder prefix, else the default."""
        return acl_by_prefix(doc_id, self.acl, self.overrides)

    def _listing(self) -> list[DocumentRef]:
        refs: list[DocumentRef] = []
        seen: set[str] = set()
        escaping: list[str] = []
        for doc_id, path, problem in self._walk(escaping):
            if doc_id in seen:
                raise ListingError(
                    f"two files have the document id {doc_id!r}: ingest their common parent "
                    "folder instead of the files one by one"
                )
            seen.add(doc_id)
            if problem:
                refs.append(DocumentRef.failed(doc_id, problem, acl=self.acl_of(doc_id), url=path.as_uri()))
                continue
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # deleted since the folder was listed
            except OSError as exc:
                refs.append(
                    DocumentRef.failed(doc_id, f"cannot read it ({exc.strerror})", acl=self.acl_of(doc_id))
                )
                continue
            refs.append(
                DocumentRef(
                    doc_id=doc_id,
                    version=f"{info.st_size}:{info.st_mtime_ns}",
                    acl=self.acl_of(doc_id),
                    updated_at=datetime.fromtimestamp(info.st_mtime, UTC),
                    title=path.stem.replace("_", " "),
                    url=path.as_uri(),
                    size=info.st_size,
                )
            )
        self.notes = [_escaping_note(escaping)] if escaping else []
        return refs

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every file, listed in a worker thread (shares can be slow)."""
        for ref in await asyncio.to_thread(self._listing):
            yield ref

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """The file itself: nothing is copied. One replaced by a link since it was listed is not read."""
        path = Path(unquote(urlparse(ref.url).path))
        if await asyncio.to_thread(lambda: path.is_symlink() or not self._inside(path.resolve())):
            raise OSError(f"{ref.doc_id} was replaced by a link since it was listed: not read")
        return path


def _odd(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _escaping_note(links: list[str]) -> str:
    shown = ", ".join(links[:SHOWN_LINKS]) + (
        f" and {len(links) - SHOWN_LINKS} more" if len(links) > SHOWN_LINKS else ""
    )
    return f"{len(links)} links lead outside the source and are not followed ({shown})"
