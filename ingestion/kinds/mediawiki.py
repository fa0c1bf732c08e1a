"""The `mediawiki` kind: a MediaWiki site, read through its api.php."""

from __future__ import annotations

import re

from knowledge.kinds import fields
from knowledge.kinds.checks import account, without_trailing_slash
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec, OptionSpec

MEDIAWIKI_KIND = "mediawiki"


def namespaces(value: str) -> str:
    """Namespace numbers, e.g. 0,4 (repeats dropped)."""
    numbers = [p.strip() for p in value.split(",") if p.strip()]
    if not numbers or not all(re.fullmatch(r"-?\d{1,4}", n) and int(n) >= 0 for n in numbers):
        raise ValueError(
            f"invalid namespaces {value!r}: give namespace numbers, e.g. 0,4 (0 is the main one)"
        )
    return ",".join(dict.fromkeys(numbers))


NAMESPACES = OptionSpec(
    name="namespaces",
    help="namespace numbers to index, e.g. 0,4 (default 0, the main namespace)",
    check=namespaces,
)
USER = OptionSpec(
    name="user",
    help="a bot-password user name, e.g. Lore@sync; its password is the credentials",
    check=account,
)

KIND = ConnectorKind(
    name=MEDIAWIKI_KIND,
    label="MediaWiki",
    summary="a MediaWiki site, through its api.php",
    order=30,
    location_type="url",
    location_hint="the wiki's api.php URL, e.g. https://wiki.example.com/w/api.php",
    location_word="the wiki's api.php URL",
    normalise=without_trailing_slash,
    single_location=True,
    options=[NAMESPACES, USER],
    fields=[
        fields.source_id("wiki"),
        FieldSpec(
            name=LOCATION,
            label="API URL",
            hint="The wiki's api.php, e.g. https://wiki.example.com/w/api.php.",
            placeholder="https://wiki.example.com/w/api.php",
        ),
        fields.access(),
        fields.overrides(
            "Namespace overrides",
            "One per line, `namespace number: access, access`, e.g. `4: group:staff`.",
            "4: group:staff",
        ),
        fields.option(NAMESPACES, "Namespaces", "0,4"),
        fields.option(USER, "Bot user (private wikis)", "Lore@sync"),
        fields.credentials(
            "Only with a bot user: the variable LORE_SECRET_… or secret file (in LORE_SECRETS_DIR) "
            "holding its bot password.",
            "LORE_SECRET_WIKI_BOT or /run/secrets/wiki",
            optional=True,
        ),
        fields.every(),
        fields.ceiling(),
    ],
    usage="<id> https://wiki/w/api.php access=public [namespaces=0,4]",
    connector="ingestion.connectors.mediawiki:MediaWikiConnector.from_source",
)
