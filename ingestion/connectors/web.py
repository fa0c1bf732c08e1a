"""The web site connector: the pages of a site inside the folder of each start URL, found through a sitemap
or a crawl, robots.txt honoured, indexed as their main content without the site's navigation.

Between syncs it keeps, in the source's connector cache (shared by the workers of a fleet:
ingestion/connectors/cache.py), each page's ETag / Last-Modified and links, so the next sync asks with
If-None-Match / If-Modified-Since: an unchanged page answers 304 and is neither downloaded nor re-indexed. The
main content of the pages a listing read is kept as scratch files on the host that read them, so that the
sync's fetch downloads nothing again; a page with no such file here (another worker read it, or it was not
read since) is downloaded when it has to be fetched. A page's version is its ETag, else its Last-Modified,
else a hash of its main content. A sync lists at most `max_pages` pages; when that budget stops it, `notes`
says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from ingestion.connectors.base import DocumentRef, ListingError, acl_by_prefix
from ingestion.connectors.cache import ConnectorCache, connector_cache
from ingestion.connectors.http import Http, HttpFailure
from ingestion.connectors.web_crawl import Crawl, Page, Start, body_name
from ingestion.connectors.web_fetch import RETRIES, get
from ingestion.connectors.web_pages import extract, folder_of, is_html, normalise
from ingestion.kinds.web import WEB_KIND
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 500
CACHE_KIND = "web-pages"
BODIES = "pages"  # the scratch folder of the page bodies a listing read


class WebCache(BaseModel):
    """What the last complete listing learnt, by URL asked for."""

    pages: dict[str, Page] = {}


class WebConnector:
    """Pages under the folders of the start URLs; acl from a default plus per-path overrides (paths
    relative to the start URL's folder, the longest prefix wins).

    doc ids are URL paths relative to the start URL's folder (`guide/intro.html`; the folder itself is
    `index`); with several start URLs each id starts with its host and folder.
    """

    kind = WEB_KIND

    def __init__(
        self,
        locations: list[str],
        acl: list[str],
        overrides: dict[str, list[str]] | None = None,
        *,
        cache: ConnectorCache,
        max_pages: int = DEFAULT_MAX_PAGES,
        sitemap: str = "",
        max_bytes: int = 25_000_000,
        retries: int = RETRIES,
        guard: HostGuard | None = None,
    ) -> None:
        self.starts = [_start(location) for location in locations]
        self.acl = acl
        self.overrides = overrides or {}
        self.cache = cache
        self.max_pages = max_pages
        self.sitemap = sitemap
        self.max_bytes = max_bytes
        self.retries = retries
        self.http = Http(what="the web site", guard=guard)
        self.notes: list[str] = []
        self._bodies: dict[str, Path] = {}  # doc id -> main content read by the last listing

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> WebConnector:
        """The connector of a registered `web` source."""
        return cls(
            source.location,
            source.access,
            source.overrides,
            cache=connector_cache(source.id, settings),
            max_pages=int(source.options.get("max_pages", str(DEFAULT_MAX_PAGES))),
            sitemap=source.options.get("sitemap", ""),
            max_bytes=int(settings.max_file_mb * 1_000_000),
            guard=HostGuard(settings.allowed_internal_hosts),
        )

    def doc_id(self, url: str, start: Start) -> str:
        """The id of the page at `url`: its path relative to the start URL's folder."""
        relative = _relative(url, start)
        if len(self.starts) == 1:
            return relative
        parts = urlsplit(start.folder)
        return f"{parts.netloc}{unquote(parts.path)}{relative}"

    def acl_of(self, relative: str) -> list[str]:
        """The acl of a page: the override of its deepest path prefix, else the default."""
        return acl_by_prefix(relative, self.acl, self.overrides)

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every page inside the start folders, up to the page budget; ListingError if the site cannot be
        read (then nothing is pruned)."""
        for ref in await self._listing():
            yield ref

    async def _listing(self) -> list[DocumentRef]:
        self.notes = []
        old = await self.cache.read(CACHE_KIND, WebCache) or WebCache()  # a broken cache: one full download
        async with self.http.session() as session:
            crawl = Crawl(
                session,
                self.starts,
                old.pages,
                self.cache.scratch / BODIES,
                max_pages=self.max_pages,
                max_bytes=self.max_bytes,
                retries=self.retries,
            )
            await crawl.read_robots()
            entries = await crawl.sitemap_pages(self.sitemap)
            await crawl.from_sitemap(entries)
            covered = crawl.covered(entries)
            await crawl.crawl([s for s in self.starts if s.url not in covered])
        refs = self._refs(crawl)
        await self.cache.replace(CACHE_KIND, WebCache(pages=crawl.visited))
        await asyncio.to_thread(_prune, self.cache.scratch / BODIES, crawl.visited)
        if crawl.budget_reached:
            self.notes.append(f"page budget of {self.max_pages} pages reached: raise max_pages to index more")
            log.warning(
                "web listing of %s stopped at its page budget of %d pages", self.starts[0].url, self.max_pages
            )
        if crawl.trapped:
            self.notes.append(
                f"crawl stopped after {crawl.requests} requests: most links led to copies, redirects, "
                "missing or non-HTML pages; give a sitemap= to list the pages directly"
            )
        if crawl.failed:
            self.notes.append(
                f"{len(crawl.failed)} pages could not be read (first: {crawl.failed[0]}); pages read before "
                "keep their last version"
            )
        return refs

    def _refs(self, crawl: Crawl) -> list[DocumentRef]:
        refs: dict[str, DocumentRef] = {}
        self._bodies = {}
        for asked, page in crawl.listed.items():
            url = page.url or asked
            start = crawl.start_of(url)
            assert start is not None  # the crawl lists only pages inside a start folder
            doc_id = self.doc_id(url, start)
            if doc_id in refs:
                continue
            refs[doc_id] = DocumentRef(
                doc_id=doc_id,
                version=page.version,
                acl=self.acl_of(_relative(url, start)),
                updated_at=page.updated_at,
                title=page.title,
                url=url,
                size=self.max_bytes + 1 if page.too_large else None,
            )
            self._bodies[doc_id] = self.cache.scratch / BODIES / body_name(asked, page.version)
        return list(refs.values())

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """The page's main content as a small HTML file: the one the listing read, else downloaded now."""
        body = self._bodies.get(ref.doc_id)
        if body is not None and await asyncio.to_thread(body.is_file):
            dest = _new_file(workdir)
            await asyncio.to_thread(shutil.copyfile, body, dest)
            return dest
        async with self.http.session() as session:
            try:
                answer = await get(
                    session, ref.url, max_bytes=self.max_bytes, wanted=is_html, retries=self.retries
                )
            except HttpFailure as exc:
                raise OSError(str(exc)) from exc
        if answer.status != 200 or not is_html(answer.content_type):
            raise OSError(f"HTTP {answer.status} ({answer.content_type or 'no content type'}) from {ref.url}")
        page = await asyncio.to_thread(extract, answer.body, ref.url, answer.charset)
        dest = _new_file(workdir)
        await asyncio.to_thread(dest.write_text, page.document, "utf-8")
        return dest


def _start(location: str) -> Start:
    url = normalise(location, keep_query=True)
    if url is None:
        raise ListingError(f"invalid start URL {location!r}: give an http(s) URL", retryable=False)
    return Start(url=url, folder=folder_of(url))


def _new_file(workdir: Path) -> Path:
    handle, name = tempfile.mkstemp(suffix=".html", dir=workdir)
    os.close(handle)
    return Path(name)


def _relative(url: str, start: Start) -> str:
    return unquote(url[len(start.folder) :]) or "index"


def _prune(bodies: Path, pages: dict[str, Page]) -> None:
    """Delete the page bodies that the cache no longer names."""
    keep = {body_name(url, page.version) for url, page in pages.items()}
    if bodies.is_dir():
        for path in bodies.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
