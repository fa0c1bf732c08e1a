"""The directory file as it is now: re-read whenever it changes, by every process that asks.

Group membership kept outside Slack (`LORE_DIRECTORY_FILE`) changes while Lore runs: someone leaves
finance, and from the next question on they must not read finance's documents. `DirectoryFile.current()`
looks at the file's identity (inode, size, modification and change times) on every call, which costs one
`stat`, and reads it again when any of them moved. A file that has become unreadable or invalid grants
nothing from it (unknown access means no access) until it is fixed, and says so in the log once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import ValidationError
from yaml import YAMLError

from knowledge.access import AccessError, Directory, Principal, parse_access

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int, int]


class DirectoryFile:
    """The current `Directory` of a file (or the empty one when there is no file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: Stamp | None = None
        self._directory = Directory()
        if path is not None:
            self._directory = Directory.load(path)  # a missing or broken file at start-up is an error
            self._stamp = _stamp(path)

    @classmethod
    def of(cls, directory: Directory) -> DirectoryFile:
        """A fixed directory (no file behind it)."""
        fixed = cls(None)
        fixed._directory = directory
        return fixed

    def current(self) -> Directory:
        """The directory as the file says now; empty while the file is missing or invalid."""
        if self.path is None:
            return self._directory
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            return self._broken(None, f"cannot be read ({exc.strerror})")
        if stamp == self._stamp:
            return self._directory
        try:
            directory = Directory.load(self.path)
        except (OSError, YAMLError, ValidationError, UnicodeDecodeError) as exc:
            return self._broken(stamp, f"is invalid ({type(exc).__name__}: {exc})")
        if self._stamp is not None:
            log.info("directory file %s changed: re-read", self.path)
        self._stamp, self._directory = stamp, directory
        return directory

    def _broken(self, stamp: Stamp | None, why: str) -> Directory:
        if self._stamp != stamp or self._directory != Directory():
            log.error(
                "directory file %s %s: its groups and accounts grant nothing until it is fixed",
                self.path,
                why,
            )
        self._stamp, self._directory = stamp, Directory()
        return self._directory

    def expand(self, principal: Principal) -> Principal:
        """`principal` plus the directory groups of each `user:` it holds (as the directory says now)."""
        directory = self.current()
        grants = set(principal.grants)
        for grant in principal.grants:
            if grant.startswith("user:"):
                for name in directory.groups_of(grant.removeprefix("user:")):
                    try:
                        grants.add(parse_access(f"group:{name}"))
                    except AccessError:
                        log.warning("directory group %r is not a valid access name: it grants nothing", name)
        return Principal(grants=frozenset(grants))


def _stamp(path: Path) -> Stamp:
    stat = os.stat(path)
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
