"""Walking a folder of an SMB share: every non-hidden file once, depth first by name.

Windows symbolic links and junctions (reparse points) are skipped. Samba, with its default `wide links =
no`, hides links that dangle or lead outside the share, and shows a link inside it as the file or folder it
leads to; a file or folder met again (the same file id) is left out, so that a link indexes nothing twice
and never walks a folder in circles. A subfolder Lore may not list is reported, and the walk goes on.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingestion.connectors.smb import Share

SKIPPED_ATTRIBUTES = 0x2 | 0x4 | 0x400  # FILE_ATTRIBUTE_HIDDEN, _SYSTEM, _REPARSE_POINT (junctions, links)
ACCESS_DENIED = 0xC0000022
Found = tuple[str, str, Any, str]  # (path in the location, doc id, smbclient DirEntry or None, problem)


def walk(
    share: Share, session: dict[str, Any], folder: str = "", met: set[int] | None = None
) -> Iterator[tuple[str, Any, str]]:
    """(path relative to the location, smbclient DirEntry, "") of every non-hidden file, depth first by
    name, each file or folder once (`met`: file ids seen); a location that is a file yields itself with
    the path "". A subfolder Lore may not list yields (its path + "/", None, why)."""
    import smbclient

    if met is None:
        met = {smbclient.stat(share.unc(), **session).st_ino}  # a link back to the location: not again
    try:
        with smbclient.scandir(share.unc(folder), **session) as entries:
            listed = sorted(entries, key=lambda e: str(e.name))
    except OSError as exc:
        if folder and exc.errno == errno.ENOENT:
            return  # deleted while the share was being listed: gone, like its files
        if folder and getattr(exc, "ntstatus", None) == ACCESS_DENIED:
            yield f"{folder}/", None, "Lore's account may not list this folder: its files are left out"
            return
        if folder or exc.errno != errno.ENOTDIR:
            raise
        yield "", smbclient.SMBDirEntry.from_path(share.unc(), **session), ""
        return
    for entry in listed:
        if entry.name.startswith((".", "~$")) or entry.smb_info.file_attributes & SKIPPED_ATTRIBUTES:
            continue
        file_id = entry.inode()
        if file_id in met:
            continue  # met before, by another path: a link inside the share
        if file_id:  # 0 = a server that does not tell
            met.add(file_id)
        rel = f"{folder}/{entry.name}" if folder else entry.name
        if entry.is_dir():
            yield from walk(share, session, rel, met)
        else:
            yield rel, entry, ""
