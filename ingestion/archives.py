"""Zip containers (docx, pptx, xlsx) checked before parsing: a small file must not expand into gigabytes.

Office files are zip archives whose XML usually expands 5 to 20 times. A zip bomb expands thousands of
times; it is refused before any parser opens it, recorded as the document's error, and the sync goes on.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

ZIP_SUFFIXES = frozenset({".docx", ".pptx", ".xlsx"})
EXPANSION_FACTOR = 20  # the whole archive may expand to this many times the file size limit
MAX_RATIO = 200  # one member compressed better than this (and large) is a bomb, not XML
LARGE_MEMBER = 10_000_000  # bytes: below this a high ratio is harmless (e.g. blank sheets)
MAX_MEMBERS = 10_000


class ArchiveError(ValueError):
    """A zip container that must not be expanded; the message says why."""


def check_archive(path: Path, max_bytes: int) -> None:
    """Raise `ArchiveError` if the zip at `path` would expand past its limits (or is no zip at all)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        kind = path.suffix.lstrip(".")
        raise ArchiveError(f"corrupt or unreadable {kind}: not a valid zip container ({exc})") from exc
    if len(members) > MAX_MEMBERS:
        raise ArchiveError(f"archive has {len(members)} members (limit {MAX_MEMBERS}): refused")
    limit = EXPANSION_FACTOR * max_bytes
    total = sum(m.file_size for m in members)
    if total > limit:
        raise ArchiveError(
            f"archive expands to {total / 1e6:.0f} MB (limit {limit / 1e6:.0f} MB, {EXPANSION_FACTOR}× "
            "LORE_MAX_FILE_MB): refused as a possible zip bomb"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > LARGE_MEMBER and ratio > MAX_RATIO:
            raise ArchiveError(
                f"{member.filename} expands {ratio:.0f}× ({member.file_size / 1e6:.0f} MB): refused as a "
                "possible zip bomb"
            )
