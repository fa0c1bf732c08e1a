"""The `web` kind: a web site, by its sitemap or a crawl bounded by the start URL's folder."""

from __future__ import annotations

from knowledge.kinds import fields
from knowledge.kinds.checks import http_url
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec, OptionSpec

WEB_KIND = "web"


def page_budget(value: str) -> str:
    """A number of pages from 1 to 100000."""
    if not value.strip().isdigit() or not 1 <= int(value) <= 100_000:
        raise ValueError(f"invalid max_pages {value!r}: give a number of pages from 1 to 100000")
    return str(int(value))


MAX_PAGES = OptionSpec(name="max_pages", help="the page budget of one sync (default 500)", check=page_budget)
SITEMAP = OptionSpec(
    name="sitemap",
    help="a sitemap URL (default: robots.txt's Sitemap lines, then /sitemap.xml)",
    check=http_url,
    url=True,
)

KIND = ConnectorKind(
    name=WEB_KIND,
    label="Web site (sitemap or crawl)",
    summary="a web site, by its sitemap or a crawl inside the start URL's folder",
    order=50,
    location_type="url",
    location_hint="a start URL whose folder bounds the crawl, e.g. https://docs.example.com/guide/",
    location_word="the start URL",  # kept as typed: a start URL's trailing slash names its folder
    credentials="refused",
    options=[MAX_PAGES, SITEMAP],
    fields=[
        fields.source_id("docs-site"),
        FieldSpec(
            name=LOCATION,
            label="Start URLs",
            hint="One per line; pages are followed only inside the folder of each (robots.txt is honoured).",
            placeholder="https://docs.example.com/guide/",
            multiline=True,
        ),
        fields.access(),
        fields.overrides(
            "Path overrides",
            "One per line, `path: access, access`; paths are relative to the start URL's folder.",
            "internal: group:staff",
        ),
        fields.option(MAX_PAGES, "Page budget", "500"),
        fields.option(SITEMAP, "Sitemap URL", "https://docs.example.com/sitemap.xml"),
        fields.every(),
        fields.ceiling(),
    ],
    usage="<id> https://docs.example.com/guide/ access=public [max_pages=500]",
    connector="ingestion.connectors.web:WebConnector.from_source",
)
