"""One listing of a web site: robots.txt, then a sitemap or a breadth-first crawl inside the start folders,
each page asked for with the validators of the last listing (If-None-Match / If-Modified-Since).

A page that did not change answers 304 and costs nothing; one that changed is read, its main content
written to `bodies` (so fetching it later downloads nothing) and its links followed. The order is
deterministic (start URLs, then links sorted, level by level; or the sitemap's order), so a page budget
always keeps the same pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import aiohttp
from pydantic import BaseModel

from ingestion.connectors.base import ListingError
from ingestion.connectors.http import USER_AGENT, HttpFailure
from ingestion.connectors.web_fetch import RETRIES, Answer, Pacer, get
from ingestion.connectors.web_pages import (
    MAX_SITEMAP_BYTES,
    extract,
    is_html,
    looks_like_page,
    normalise,
    parse_sitemap,
    robots_from,
)
from knowledge.hosts import same_origin

log = logging.getLogger(__name__)

CONCURRENCY = 4  # pages asked for at once from a site without Crawl-delay
MAX_SITEMAPS = 200  # sitemap files read in one listing (an index of indexes stops here)
MAX_ROBOTS_BYTES = 512_000  # what RFC 9309 asks crawlers to read at least
WASTE = 100  # requests allowed beyond 3 per page of the budget: stops a crawl trap of endless copies


class Page(BaseModel):
    """What a listing learnt about one URL; kept between listings for conditional requests."""

    url: str = ""  # the page's own URL when not the one asked for (a redirect, rel=canonical)
    version: str
    updated_at: datetime
    title: str = ""
    etag: str = ""
    last_modified: str = ""
    lastmod: str = ""  # the sitemap's lastmod when the page was read
    digest: str = ""  # of the main content's text
    links: list[str] = []
    noindex: bool = False
    nofollow: bool = False
    too_large: str = ""  # why it cannot be indexed


class Start(BaseModel):
    """A start URL and the folder that bounds what is listed from it."""

    url: str
    folder: str


def body_name(url: str, version: str) -> str:
    """The file in the bodies folder holding the main content of `url` at `version`."""
    return hashlib.sha256(f"{url}\n{version}".encode()).hexdigest()[:32] + ".html"


class Crawl:
    """One listing; `listed` holds the pages to index (asked-for URL -> page) in order."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        starts: list[Start],
        old: dict[str, Page],
        bodies: Path,
        *,
        max_pages: int,
        max_bytes: int,
        retries: int = RETRIES,
    ) -> None:
        self.session = session
        self.starts = starts
        self.old = old
        self.bodies = bodies
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.retries = retries
        self.pacer = Pacer()
        self.robots: dict[str, RobotFileParser] = {}
        self.visited: dict[str, Page] = {}  # every HTML page read: the cache of the next listing
        self.listed: dict[str, Page] = {}
        self.identities: set[str] = set()
        self.digests: set[str] = set()
        self.failed: list[str] = []
        self.budget_reached = False
        self.trapped = False  # stopped by `max_requests` before the budget
        self.requests = 0
        self.max_requests = 3 * max_pages + WASTE

    def start_of(self, url: str) -> Start | None:
        """The start whose folder holds `url` (the deepest one), or None when it is outside them all."""
        inside = [s for s in self.starts if url.startswith(s.folder)]
        return max(inside, key=lambda s: len(s.folder)) if inside else None

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        rules = self.robots.get(f"{parts.scheme}://{parts.netloc}")
        return rules is None or rules.can_fetch(USER_AGENT, url)

    async def read_robots(self) -> None:
        """robots.txt of every host: missing (4xx) allows all; unreachable or 5xx fails the listing."""
        for origin in dict.fromkeys(
            f"{urlsplit(s.url).scheme}://{urlsplit(s.url).netloc}" for s in self.starts
        ):
            url = f"{origin}/robots.txt"
            try:
                answer = await self._get(url, MAX_ROBOTS_BYTES, pages_only=False)
            except (HttpFailure, ValueError) as exc:
                retryable = not isinstance(exc, HttpFailure) or exc.retryable
                fix = ": check that the site is up" if retryable else ""
                raise ListingError(f"cannot read {url} ({exc}){fix}", retryable=retryable) from exc
            if answer.status >= 500 or answer.status == 429:
                raise ListingError(
                    f"{url} answered HTTP {answer.status}: Lore reads a site only when its robots.txt can "
                    "be read (a missing one is fine); check the web server"
                )
            text = answer.body.decode("utf-8", "replace") if answer.status == 200 else ""
            self.robots[origin] = rules = robots_from(text)
            delay = rules.crawl_delay(USER_AGENT)
            self.pacer.set_delay(urlsplit(origin).netloc, float(delay) if delay else None)

    async def sitemap_pages(self, option: str) -> list[tuple[str, str]]:
        """(URL, lastmod) inside the start folders: from the `sitemap` option; else, per start folder,
        from robots.txt's Sitemap lines or else the folder's own `sitemap.xml`. [] when there is none."""
        if option:
            found = self._inside(await self._read_sitemaps([option], required=True))
            if not found:
                raise ListingError(
                    f"the sitemap {option} lists no page inside {', '.join(s.folder for s in self.starts)} "
                    "that robots.txt allows: check the source's sitemap= option and start URL",
                    retryable=False,
                )
            return found
        declared = [url for home, rules in self.robots.items() for url in _own(rules.site_maps(), home)]
        found = self._inside(await self._read_sitemaps(declared, required=False))
        covered = self.covered(found)
        own = [f"{s.folder}sitemap.xml" for s in self.starts if s.url not in covered]
        more = self._inside(await self._read_sitemaps(own, required=False))
        return found + [(url, lastmod) for url, lastmod in more if self._start_url(url) not in covered]

    def covered(self, entries: list[tuple[str, str]]) -> set[str]:
        """The start URLs whose folders these sitemap entries list (the other starts are crawled)."""
        return {self._start_url(url) for url, _ in entries}

    def _start_url(self, url: str) -> str:
        start = self.start_of(url)
        return start.url if start is not None else ""

    def _inside(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        found: dict[str, str] = {}
        for loc, lastmod in entries:
            url = normalise(loc)
            if url and url not in found and self.start_of(url) and self.allowed(url):
                found[url] = lastmod
        return list(found.items())

    async def _read_sitemaps(self, urls: list[str], *, required: bool) -> list[tuple[str, str]]:
        queue, seen, pages = deque(urls), set[str](), list[tuple[str, str]]()
        while queue and len(seen) < MAX_SITEMAPS:
            url = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            try:
                answer = await self._get(url, MAX_SITEMAP_BYTES, pages_only=False)
            except (HttpFailure, ValueError) as exc:
                raise ListingError(f"cannot read the sitemap {url}: {exc}") from exc
            if answer.status >= 500 or answer.status == 429:
                raise ListingError(f"the sitemap {url} answered HTTP {answer.status}; try again later")
            try:
                if answer.status != 200:
                    raise ValueError(f"HTTP {answer.status}")
                sitemap = await asyncio.to_thread(parse_sitemap, answer.body)
            except ValueError as exc:
                if required and url in urls:
                    raise ListingError(
                        f"the sitemap {url} cannot be used ({exc}): check the source's sitemap= option",
                        retryable=False,
                    ) from exc
                log.info("no sitemap at %s (%s)", url, exc)
                continue
            pages += sitemap.pages
            queue.extend(_own(sitemap.sitemaps, url))
        return pages

    async def from_sitemap(self, entries: list[tuple[str, str]]) -> None:
        """The pages a sitemap lists, in its order; an unchanged lastmod spares the request."""
        todo = deque(entries)
        while todo and len(self.listed) < self.max_pages:
            batch = [todo.popleft() for _ in range(min(self._width(), len(todo)))]
            pages = await asyncio.gather(*(self._sitemap_page(url, lastmod) for url, lastmod in batch))
            for (url, _), page in zip(batch, pages, strict=True):
                if page is not None:
                    self._take(url, page)
        self.budget_reached = self.budget_reached or bool(todo)

    async def _sitemap_page(self, url: str, lastmod: str) -> Page | None:
        old = self.old.get(url)
        if lastmod and old is not None and old.lastmod == lastmod:
            return old
        page = await self.visit(url)
        return page.model_copy(update={"lastmod": lastmod}) if page is not None else None

    async def crawl(self, starts: list[Start]) -> None:
        """Breadth first from `starts`, following links inside their folders."""
        urls = {s.url for s in starts}
        for url in urls:
            if not self.allowed(url):
                raise ListingError(
                    f"robots.txt of {urlsplit(url).netloc} does not allow Lore ({USER_AGENT.split('/')[0]}) "
                    f"to read {url}: ask the site's owner, or give another start URL",
                    retryable=False,
                )
        queue = deque(dict.fromkeys(s.url for s in starts))
        seen = set(queue) | self.identities
        while queue and len(self.listed) < self.max_pages and self.requests < self.max_requests:
            batch = [queue.popleft() for _ in range(min(self._width(), len(queue)))]
            pages = await asyncio.gather(*(self.visit(url, start=url in urls) for url in batch))
            for url, page in zip(batch, pages, strict=True):
                if page is None:
                    continue
                seen.add(self._take(url, page))
                for link in [] if page.nofollow else page.links:
                    if link in seen or self._start_url(link) not in urls:
                        continue
                    if looks_like_page(link) and self.allowed(link):
                        seen.add(link)
                        queue.append(link)
        full = len(self.listed) >= self.max_pages
        self.budget_reached = self.budget_reached or (bool(queue) and full)
        self.trapped = bool(queue) and not full

    def _width(self) -> int:
        pending = self.max_pages - len(self.listed)
        return max(1, min(1 if self.pacer.delays else CONCURRENCY, pending))

    def _take(self, url: str, page: Page) -> str:
        """Record a page read; list it unless it is a copy of one listed already. Returns its own URL."""
        identity = page.url or url
        self.visited[url] = page
        duplicate = identity in self.identities or (page.digest and page.digest in self.digests)
        if not page.noindex and not duplicate and len(self.listed) < self.max_pages:
            self.listed[url] = page
            self.identities.add(identity)
            if page.digest:
                self.digests.add(page.digest)
        return identity

    async def visit(self, url: str, *, start: bool = False) -> Page | None:
        """The page at `url`, asked for with the validators of the last listing; None when it is gone or
        not an HTML page inside the start folders. Only a start URL's failure fails the listing."""
        old = self.old.get(url)
        headers = {}
        if old is not None and not old.too_large:
            validators = (("If-None-Match", old.etag), ("If-Modified-Since", old.last_modified))
            headers = {name: value for name, value in validators if value}
        self.requests += 1
        try:
            answer = await self._get(url, self.max_bytes, pages_only=True, headers=headers)
        except HttpFailure as exc:
            return self._unreadable(url, old, start, str(exc), retryable=exc.retryable)
        except ValueError as exc:  # over the size limit: listed, so the sync says why it is not indexed
            return Page(version="too-large", updated_at=datetime.now(UTC), title=url, too_large=str(exc))
        if answer.status == 304 and old is not None:
            return old
        if answer.status >= 500 or answer.status in (304, 429):
            return self._unreadable(url, old, start, f"HTTP {answer.status}")
        if answer.status != 200:
            if start:
                raise ListingError(f"{url} {_refusal(answer.status)}", retryable=False)
            return None  # gone (404, 410) or refused: not listed
        return await self._read(url, old, answer, start)

    async def _read(self, url: str, old: Page | None, answer: Answer, start: bool) -> Page | None:
        final = normalise(answer.url, keep_query=True) or url
        wrong = "is not an HTML page" if not is_html(answer.content_type) else ""
        if not wrong and not self.start_of(final):
            wrong = f"redirects to {final}, outside the folder of the start URL"
        if wrong:
            if start:
                raise ListingError(
                    f"{url} {wrong}: give the URL of a page in the folder to index", retryable=False
                )
            return None
        page = await asyncio.to_thread(extract, answer.body, final, answer.charset)
        canonical = page.canonical if self.start_of(page.canonical) and self.allowed(page.canonical) else ""
        version = answer.etag or answer.last_modified or f"sha256:{page.digest}"
        updated = _http_date(answer.last_modified)
        if updated is None:
            updated = old.updated_at if old is not None and old.digest == page.digest else datetime.now(UTC)
        await asyncio.to_thread(_write, self.bodies / body_name(url, version), page.document)
        return Page(
            url=canonical if canonical and canonical != url else (final if final != url else ""),
            version=version,
            updated_at=updated,
            title=page.title,
            etag=answer.etag,
            last_modified=answer.last_modified,
            digest=page.digest,
            links=[link for link in page.links if urlsplit(link).netloc == urlsplit(final).netloc],
            noindex=page.noindex,
            nofollow=page.nofollow,
        )

    def _unreadable(
        self, url: str, old: Page | None, start: bool, why: str, *, retryable: bool = True
    ) -> Page | None:
        if start:
            later = "; try again later" if retryable else ""
            raise ListingError(f"cannot read the start page {url} ({why}){later}", retryable=retryable)
        log.warning("cannot read %s (%s); %s", url, why, "its last version is kept" if old else "skipped")
        self.failed.append(f"{url} ({why})")
        return old  # a page read before stays listed (and its links followed): nothing is pruned for it

    async def _get(
        self, url: str, max_bytes: int, *, pages_only: bool, headers: dict[str, str] | None = None
    ) -> Answer:
        """GET `url` paced for its host; the body is read for any 200, or only for HTML with `pages_only`."""
        return await get(
            self.session,
            url,
            max_bytes=max_bytes,
            headers=headers,
            wanted=is_html if pages_only else lambda _: True,
            pacer=self.pacer,
            retries=self.retries,
        )


def _own(sitemaps: list[str] | None, home: str) -> list[str]:
    """The sitemaps on `home`'s origin (a robots.txt or a sitemap index names only its own site's
    sitemaps); any other is not fetched."""
    found = []
    for url in sitemaps or []:
        if same_origin(url, home):
            found.append(url)
        else:
            log.info("sitemap %s named by %s is on another site: not fetched", url, home)
    return found


def _refusal(status: int) -> str:
    if status in (401, 403):
        return (
            f"is not public (HTTP {status}): a web source reads pages anyone may read, without signing in; "
            "check the source's start URL"
        )
    what = "was not found" if status in (404, 410) else "cannot be read"
    return f"{what} (HTTP {status}): check the source's start URL"


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
