"""The `smb` kind: Windows / SMB file shares, read with their own permissions (security descriptors)."""

from __future__ import annotations

import re

from knowledge.kinds import fields
from knowledge.kinds.checks import account
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec, OptionSpec

SMB_KIND = "smb"
_SHARE = re.compile(r"^smb://[^/\s]+/[^/\s]+(/\S*)?$")


def share_problem(location: str) -> str | None:
    """Why `location` is no smb://server/share/folder, or None."""
    return None if _SHARE.match(location) else f"invalid share {location!r}: give smb://server/share/folder"


def share_url(text: str) -> str:
    """smb://server/share/folder, also from a UNC path \\\\server\\share\\folder."""
    if text.startswith("\\\\"):
        return "smb://" + text[2:].replace("\\", "/").rstrip("/")
    return text.rstrip("/")


USER = OptionSpec(
    name="user",
    help="the account Lore signs in as, e.g. svc-lore or CORP\\svc-lore",
    check=account,
    required=True,
)

KIND = ConnectorKind(
    name=SMB_KIND,
    label="Windows / SMB file share",
    summary="Windows / SMB file shares, with each file's own permissions",
    order=20,
    location_type="other",
    location_hint="a share and folder, e.g. smb://fileserver/public/handbook",
    location_word="the share",
    location_check=share_problem,
    normalise=share_url,
    own_access=True,
    credentials="required",
    overrides=False,
    options=[USER],
    fields=[
        fields.source_id("shared-drive"),
        FieldSpec(
            name=LOCATION,
            label="Shares",
            hint="One per line: smb://server/share/folder (\\\\server\\share\\folder also works). "
            + fields.OWN_ACCESS_NOTE,
            placeholder="smb://fileserver/public/handbook",
            multiline=True,
        ),
        fields.option(USER, "Account", "svc-lore or CORP\\svc-lore"),
        fields.credentials(
            f"{fields.SECRET_WHERE} holding the account's password, where the worker runs.",
            "LORE_SECRET_SHARE or /run/secrets/share",
        ),
        fields.every(),
        fields.ceiling(),
    ],
    usage="<id> smb://server/share/folder user=svc-lore credentials=LORE_SECRET_X",
    connector="ingestion.connectors.smb:SmbConnector.from_source",
)
