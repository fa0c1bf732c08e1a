"""The `files` kind: folders on a local disk or a mounted share."""

from __future__ import annotations

from knowledge.kinds import fields
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec

FILES_KIND = "files"

KIND = ConnectorKind(
    name=FILES_KIND,
    label="Folders (a local disk or a mounted share)",
    summary="folders on a local disk or a mounted share",
    order=10,
    location_type="path",
    location_hint="an absolute folder or file, e.g. /srv/wiki",
    location_word="the folders",
    fields=[
        fields.source_id("handbook"),
        FieldSpec(
            name=LOCATION,
            label="Folders",
            hint="One absolute path per line, as the sync worker sees it.",
            placeholder="/srv/wiki",
            multiline=True,
        ),
        fields.access(),
        fields.overrides(
            "Folder overrides",
            "One per line, `folder: access, access`; folders are relative to the source.",
            "finance: group:finance",
        ),
        fields.every(),
        fields.credentials(
            f"{fields.SECRET_WHERE}, where the worker runs. Folders need none.",
            "LORE_SECRET_WIKI or /run/secrets/wiki",
            optional=True,
        ),
        fields.ceiling(),
    ],
    usage="<id> <path>[,<path>…] access=public[,group:x] [every=1h|30m|manual] "
    "[override=<folder>:<access>[,<access>]] [credentials=LORE_SECRET_X|/path/to/secret]",
    connector="ingestion.connectors.files:FilesConnector.from_source",
)
