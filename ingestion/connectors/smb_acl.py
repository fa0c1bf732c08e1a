"""Who may read a file on an SMB share: its security descriptor's DACL, mapped to Lore access strings.

An admin maps the SIDs that matter in the directory file (`LORE_DIRECTORY_FILE`):

    accounts:
      "S-1-5-21-1004336348-1177238915-682003330-1104": [group:finance]   # CORP\\Finance
      "S-1-22-2-2001": [group:finance]                                  # Samba: unix group 2001
      "S-1-1-0": [public]                                               # Everyone

A group's SID is shown by `(Get-ADGroup finance).SID` (Windows) or `wbinfo --name-to-sid 'CORP\\finance'`
(Samba with winbind); a unix group that Samba maps itself is S-1-22-2-<gid>. After each listing the worker
logs a warning naming the SIDs that may read files but map to nothing. Names are not looked up over LSA:
a SID stays the same when its group is renamed, the service account needs no extra RPC rights, and a name
that comes to mean another account cannot silently widen access.

The rules (conservative: what Lore cannot decide, nobody reads):
- an ACCESS_ALLOWED ACE that grants FILE_READ_DATA, GENERIC_READ or GENERIC_ALL gives its SID's mapping;
  a SID with no mapping gives nothing (never public);
- a read-denying ACE for any SID makes the file readable by nobody in Lore: who is in the denied group is
  not known here, so no access string can be shown to exclude them;
- ACEs Lore cannot parse (object and callback/conditional ACEs) grant nothing; a deny of that kind again
  means nobody; inherit-only ACEs do not apply to the file itself and are skipped;
- a null DACL lets everyone in, so it maps like an ACE for Everyone (S-1-1-0); an empty DACL (or a
  reply without the DACL asked for) lets nobody in.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

from pydantic import BaseModel

from knowledge.access import Directory

EVERYONE = "S-1-1-0"
FILE_READ_DATA = 0x00000001
GENERIC_ALL = 0x10000000
GENERIC_READ = 0x80000000
READ_BITS = FILE_READ_DATA | GENERIC_READ | GENERIC_ALL
READ_CONTROL = 0x00020000
INHERIT_ONLY = 0x08
DACL_PRESENT = 0x0004
OWNER_GROUP_DACL = 0x1 | 0x2 | 0x4  # OWNER_, GROUP_ and DACL_SECURITY_INFORMATION
ALLOWED, DENIED = 0x00, 0x01  # ACE types with a plain SID
OTHER_DENIES = {0x06, 0x0A, 0x0C}  # object, callback and callback-object deny ACEs
MAX_SD_BYTES = 65_536  # a query's output buffer: big enough for any real DACL


class DescriptorError(ValueError):
    """A security descriptor that cannot be parsed."""


class Ace(BaseModel):
    """One access control entry; `sid` is empty for kinds Lore does not parse."""

    kind: Literal["allow", "deny", "other-allow", "other-deny"]
    sid: str = ""
    mask: int = 0
    inherit_only: bool = False


class SecurityDescriptor(BaseModel):
    """The parts of a file's security descriptor that decide access; `dacl` None = a null DACL."""

    owner: str | None = None
    group: str | None = None
    dacl: list[Ace] | None = None


def parse_sid(data: bytes, offset: int) -> str:
    """The string form (S-1-5-21-…) of the binary SID at `offset` ([MS-DTYP] 2.4.2.2)."""
    revision, count = data[offset], data[offset + 1]
    authority = int.from_bytes(data[offset + 2 : offset + 8], "big")
    subs = struct.unpack_from(f"<{count}I", data, offset + 8)
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def parse_security_descriptor(data: bytes) -> SecurityDescriptor:
    """A self-relative SECURITY_DESCRIPTOR ([MS-DTYP] 2.4.6); DescriptorError when it is malformed."""
    try:
        _rev, _sbz, control, owner, group, _sacl, dacl = struct.unpack_from("<BBHIIII", data)
        sd = SecurityDescriptor(
            owner=parse_sid(data, owner) if owner else None,
            group=parse_sid(data, group) if group else None,
        )
        if not control & DACL_PRESENT:
            sd.dacl = []  # not sent although asked for: decide nothing from it
        elif dacl:
            sd.dacl = _aces(data, dacl)
        return sd  # DACL_PRESENT without an offset is a null DACL: everyone has full access
    except (struct.error, IndexError, ValueError) as exc:
        raise DescriptorError(f"malformed security descriptor ({len(data)} bytes)") from exc


def _aces(data: bytes, offset: int) -> list[Ace]:
    _rev, _sbz, _size, count, _sbz2 = struct.unpack_from("<BBHHH", data, offset)
    aces: list[Ace] = []
    at = offset + 8
    for _ in range(count):
        kind, flags, size = struct.unpack_from("<BBH", data, at)
        inherit_only = bool(flags & INHERIT_ONLY)
        if kind in (ALLOWED, DENIED):
            (mask,) = struct.unpack_from("<I", data, at + 4)
            named = "allow" if kind == ALLOWED else "deny"
            aces.append(Ace(kind=named, sid=parse_sid(data, at + 8), mask=mask, inherit_only=inherit_only))
        else:
            other = "other-deny" if kind in OTHER_DENIES else "other-allow"
            aces.append(Ace(kind=other, inherit_only=inherit_only))
        if size < 8:
            raise DescriptorError(f"malformed ACE of {size} bytes")
        at += size
    return aces


def readers(sd: SecurityDescriptor) -> set[str] | None:
    """The SIDs that may read the file, or None when a deny makes it unreadable to Lore's eyes."""
    if sd.dacl is None:
        return {EVERYONE}
    allowed: set[str] = set()
    for ace in sd.dacl:
        if ace.inherit_only:
            continue
        if ace.kind == "other-deny" or (ace.kind == "deny" and ace.mask & READ_BITS):
            return None
        if ace.kind == "allow" and ace.mask & READ_BITS:
            allowed.add(ace.sid)
    return allowed


def access_of(sd: SecurityDescriptor, directory: Directory) -> list[str]:
    """The Lore acl of a file: the mapped access strings of the SIDs that may read it (sorted)."""
    sids = readers(sd)
    if not sids:
        return []
    return sorted({grant for sid in sids for grant in directory.access_of(sid)})


def unmapped_readers(sd: SecurityDescriptor, directory: Directory) -> set[str]:
    """SIDs that may read the file but map to nothing: what an admin may want to add to the directory."""
    return {sid for sid in readers(sd) or set() if not directory.access_of(sid)}


def query_security(path: str, **session: Any) -> SecurityDescriptor:
    """Read the owner, group and DACL of the file at UNC `path` (one compound create/query/close).

    smbclient has no public call for this: it opens the file with READ_CONTROL only (the right needed to
    read a DACL, not its content) and sends an SMB2 QUERY_INFO of the security info type.
    """
    from smbclient._io import SMBFileTransaction, SMBRawIO
    from smbprotocol.file_info import InfoType
    from smbprotocol.open import SMB2QueryInfoRequest, SMB2QueryInfoResponse

    raw = SMBRawIO(path, mode="r", desired_access=READ_CONTROL, share_access="rwd", **session)
    request = SMB2QueryInfoRequest()
    request["info_type"] = InfoType.SMB2_0_INFO_SECURITY
    request["output_buffer_length"] = MAX_SD_BYTES
    request["additional_information"] = OWNER_GROUP_DACL
    request["file_id"] = raw.fd.file_id

    def receive(sent: Any) -> bytes:
        response = SMB2QueryInfoResponse()
        response.unpack(raw.fd.connection.receive(sent)["data"].get_value())
        return bytes(response["buffer"].get_value())

    with SMBFileTransaction(raw) as transaction:
        transaction += (request, receive)
    return parse_security_descriptor(transaction.results[0])
