"""The declaration of the `jsonfeed` kind: light, it imports only Lore's contract (the bot loads it)."""

from knowledge.kinds import fields
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec


def feed_url(location: str) -> str | None:
    """Why `location` is no feed (the contract has already checked that it is an http(s) URL)."""
    return None if location.endswith(".json") else f"invalid feed {location!r}: give the URL of a .json feed"


KIND = ConnectorKind(
    name="jsonfeed",
    label="JSON feed (articles over HTTP)",
    summary="the articles of a JSON feed: id, title, body, url, updated_at",
    location_type="url",  # Lore bounds its host like any URL (LORE_ALLOWED_INTERNAL_HOSTS)
    location_hint="the feed's URL, e.g. https://news.example.com/feed.json",
    location_word="the feed's URL",
    location_check=feed_url,
    single_location=True,
    credentials="refused",
    fields=[
        fields.source_id("news"),
        FieldSpec(
            name=LOCATION, label="Feed URL", hint="A JSON feed, e.g. https://news.example.com/feed.json."
        ),
        fields.access(),
        fields.overrides("Article overrides", "One per line, `article id: access, access`.", "a1: group:hr"),
        fields.every(),
        fields.ceiling(),
    ],
    usage="<id> https://news.example.com/feed.json access=public [override=<article id>:<access>]",
    connector="lore_jsonfeed.connector:JsonFeedConnector.from_source",
)
