"""The `confluence` kind: a Confluence site (Cloud or Data Center), read with its own restrictions."""

from __future__ import annotations

import re

from knowledge.kinds import fields
from knowledge.kinds.checks import account, without_trailing_slash
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec, OptionSpec

CONFLUENCE_KIND = "confluence"
_SPACE_KEY = re.compile(r"^~?[A-Za-z0-9_]+$")


def spaces(value: str) -> str:
    """Space keys, e.g. ENG,HR (repeats dropped)."""
    keys = [p.strip() for p in value.split(",") if p.strip()]
    if not all(_SPACE_KEY.match(k) for k in keys):
        raise ValueError(f"invalid spaces {value!r}: give Confluence space keys, e.g. ENG,HR")
    return ",".join(dict.fromkeys(keys))


SPACES = OptionSpec(
    name="spaces",
    help="space keys to index, e.g. ENG,HR (default: every space the account can read)",
    check=spaces,
)
USER = OptionSpec(
    name="user",
    help="the account email (Cloud: email + API token); without it the token is a Data Center personal "
    "access token",
    check=account,
)

KIND = ConnectorKind(
    name=CONFLUENCE_KIND,
    label="Confluence (Cloud or Data Center)",
    summary="a Confluence site (Cloud or Data Center), with each page's own restrictions",
    order=40,
    location_type="url",
    location_hint="the site's base URL, e.g. https://example.atlassian.net/wiki",
    location_word="the site's base URL",
    normalise=without_trailing_slash,
    single_location=True,
    own_access=True,
    credentials="required",
    overrides=False,
    options=[SPACES, USER],
    fields=[
        fields.source_id("confluence"),
        FieldSpec(
            name=LOCATION,
            label="Site URL",
            hint="Cloud: https://example.atlassian.net/wiki; Data Center: the base URL. "
            + fields.OWN_ACCESS_NOTE,
            placeholder="https://example.atlassian.net/wiki",
        ),
        fields.option(SPACES, "Spaces", "ENG,HR"),
        fields.option(USER, "Account email (Cloud)", "lore-bot@example.com"),
        fields.credentials(
            "The variable LORE_SECRET_… or secret file (in LORE_SECRETS_DIR) holding the API token "
            "(Cloud) or personal access token (Data Center), where the worker runs.",
            "LORE_SECRET_CONFLUENCE or /run/secrets/confluence",
        ),
        fields.every(),
        fields.ceiling(),
    ],
    usage="<id> https://x.atlassian.net/wiki user=EMAIL credentials=LORE_SECRET_X [spaces=ENG]",
    connector="ingestion.connectors.confluence:ConfluenceConnector.from_source",
)
