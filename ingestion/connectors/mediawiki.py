"""The MediaWiki connector: every content page of the chosen namespaces, through the Action API.

A document is a page, named `page/<pageid>`: a page id survives moves, so a moved page stays one document
whose title, URL and text are replaced (its version holds the title), and nothing is left under the old
name. Its text is the wiki's own rendering (`action=parse`), headings kept; its link is the page's
canonical URL; its access is the override of its namespace (by number or name), else the source's access.
Redirects are not documents: their targets are.

Listings are incremental: the last complete listing is kept in the source's connector cache (shared by the
workers of a fleet: ingestion/connectors/cache.py) with the wiki's time when it was taken, and the next one
applies what `list=recentchanges` reports since (edits, new pages, deletions, moves, restores), re-reading
the current state of just the pages concerned. A full walk
(`generator=allpages`) runs when there is no usable cache, a day after the last full walk, or when the
wiki no longer keeps changes that old.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from pydantic import BaseModel

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.cache import ConnectorCache, connector_cache
from ingestion.connectors.http import Http
from ingestion.connectors.mediawiki_api import (
    PageInfo,
    RecentChange,
    Site,
    WikiApi,
    page_html,
    plain_title,
    read_parsed,
)
from ingestion.kinds.mediawiki import MEDIAWIKI_KIND
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)

CACHE_KIND = "mediawiki"
CACHE_FILE = f"{CACHE_KIND}.json"  # its file in embedded mode
CACHE_FORMAT = 1
FULL_EVERY = timedelta(hours=24)  # a full walk at least this often, whatever recentchanges says
CHANGES_OVERLAP = timedelta(minutes=10)  # re-read changes this far back: a change may be stored late
BATCH = 50  # titles or page ids per query (the API's limit for accounts without apihighlimits)


class Entry(BaseModel):
    """What the cache keeps of a listed page."""

    pageid: int
    ns: int
    title: str
    display: str
    url: str
    revid: int
    updated_at: datetime


class Snapshot(BaseModel):
    """The last complete listing: what the cache keeps."""

    format: int = CACHE_FORMAT
    signature: str
    listed_at: datetime  # the wiki's time when the last full walk started
    changes_from: datetime  # the wiki's time when the last listing started: changes are read from here
    pages: dict[str, Entry]


class MediaWikiConnector:
    """The pages of a wiki's chosen namespaces; see the module's docstring."""

    kind = MEDIAWIKI_KIND

    def __init__(
        self,
        api: str,
        *,
        access: list[str],
        cache: ConnectorCache,
        max_bytes: int,
        namespaces: Iterable[int] = (0,),
        overrides: dict[str, list[str]] | None = None,
        user: str | None = None,
        password: str | None = None,
        retries: int = 2,
        guard: HostGuard | None = None,
    ) -> None:
        self.api = WikiApi(api, Http(what="the wiki", retries=retries, home=api, guard=guard))
        self.namespaces = sorted(set(namespaces))
        self.access = access
        self.overrides = overrides or {}
        self.user, self.password = user, password
        self.cache = cache
        self.max_bytes = max_bytes
        self.full_listings = 0  # how listings were made (tests and logs tell the two paths apart)
        self.incremental_listings = 0
        self._jar: aiohttp.CookieJar | None = None
        self._signed_in = False

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> MediaWikiConnector:
        """The connector of a `mediawiki` source (reads the bot password now, when there is a user)."""
        user = source.options.get("user")
        if bool(user) != (source.credentials is not None):
            raise ListingError(
                "a wiki bot user needs both user= (e.g. Lore@sync) and credentials= (its bot password); "
                "a public wiki needs neither",
                retryable=False,
            )
        return cls(
            source.location[0],
            access=source.access,
            overrides=source.overrides,
            namespaces=[int(n) for n in source.options.get("namespaces", "0").split(",")],
            user=user,
            password=source.credentials.resolve(settings.secrets_dir) if source.credentials else None,
            cache=connector_cache(source.id, settings),
            max_bytes=int(settings.max_file_mb * 1_000_000),
            guard=HostGuard(settings.allowed_internal_hosts),
        )

    @property
    def signature(self) -> str:
        """What a cached listing must have been made with to be reused."""
        return f"{self.api.url} {','.join(map(str, self.namespaces))} {self.user or ''}"

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        # one jar for every session of this connector: the wiki's sign-in cookie outlives the listing (and
        # goes to the wiki's own origin only)
        if self._jar is None:
            self._jar = self.api.http.cookie_jar()
        async with self.api.http.session(cookie_jar=self._jar) as session:
            yield session

    async def _sign_in(self, session: aiohttp.ClientSession) -> None:
        if self.user and self.password:
            await self.api.login(session, self.user, self.password)
            self._signed_in = True

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every content page of the chosen namespaces; `ListingError` (and the cache untouched) if not."""
        pages, acl = await self._listing()
        for entry in sorted(pages.values(), key=lambda e: e.pageid):
            yield DocumentRef(
                doc_id=f"page/{entry.pageid}",
                version=f"{entry.revid}:{entry.title}",
                acl=acl[entry.ns],
                updated_at=entry.updated_at,
                title=entry.display,
                url=entry.url,
            )

    async def _listing(self) -> tuple[dict[str, Entry], dict[int, list[str]]]:
        async with self._session() as session:
            await self._sign_in(session)
            site = await self.api.site(session)
            acl = self._namespace_acl(site)
            snapshot = await self._load()
            pages = None
            if snapshot is not None and self._current(snapshot, site):
                pages = await self._apply_changes(session, snapshot)
            if snapshot is not None and pages is not None:
                listed_at, how = snapshot.listed_at, "its recent changes"
                self.incremental_listings += 1
            else:
                pages, listed_at, how = await self._walk(session), site.time, "a walk over every page"
                self.full_listings += 1
        log.info("listed %d pages of %s from %s", len(pages), self.api.url, how)
        done = Snapshot(signature=self.signature, listed_at=listed_at, changes_from=site.time, pages=pages)
        await self.cache.replace(CACHE_KIND, done)
        return pages, acl

    def _namespace_acl(self, site: Site) -> dict[int, list[str]]:
        """The access of each chosen namespace; an override naming no namespace stops the listing (its
        pages would otherwise get the default access, perhaps public)."""
        names = {
            _name(alias): space.id
            for space in site.namespaces.values()
            for alias in (space.name, space.canonical)
            if alias
        }
        missing = [n for n in self.namespaces if n not in site.namespaces]
        if missing:
            spaces = site.namespaces.values()
            known = ", ".join(f"{s.id} ({s.canonical or 'main'})" for s in spaces if s.id >= 0)
            raise ListingError(
                f"namespace {missing[0]} does not exist on this wiki: fix namespaces= "
                f"(its namespaces: {known})",
                retryable=False,
            )
        by_number: dict[int, list[str]] = {}
        for key, acl in self.overrides.items():
            number = int(key) if key.lstrip("-").isdigit() else names.get(_name(key))
            if number is None:
                raise ListingError(
                    f"the override {key!r} names no namespace of this wiki: give a namespace number (e.g. 4) "
                    "or its name (e.g. Project)",
                    retryable=False,
                )
            by_number[number] = acl
        return {n: by_number.get(n, self.access) for n in self.namespaces}

    def _current(self, snapshot: Snapshot, site: Site) -> bool:
        """True when the cached listing may be brought up to date from the recent changes alone."""
        if snapshot.signature != self.signature:
            return False
        if not timedelta(0) <= site.time - snapshot.listed_at < FULL_EVERY:
            return False
        # the wiki forgets changes after $wgRCMaxAge: the oldest one kept must predate the cached listing
        return site.oldest_change is not None and site.oldest_change <= snapshot.changes_from

    async def _walk(self, session: aiohttp.ClientSession) -> dict[str, Entry]:
        """Every content page, namespace by namespace."""
        pages: dict[str, Entry] = {}
        for ns in self.namespaces:
            params = {
                "generator": "allpages",
                "gapnamespace": str(ns),
                "gapfilterredir": "nonredirects",
                "gaplimit": "max",
            }
            for info in await self.api.pages(session, params):
                if not info.gone:
                    pages[str(info.pageid)] = _entry(info)
        return pages

    async def _apply_changes(
        self, session: aiohttp.ClientSession, snapshot: Snapshot
    ) -> dict[str, Entry] | None:
        """The cached listing with the pages that changed since read again as they are now; None when so
        many changed that walking every page costs fewer requests."""
        pages = dict(snapshot.pages)
        ids: set[int] = set()
        titles: set[str] = set()
        async for change in self.api.changes(session, snapshot.changes_from - CHANGES_OVERLAP):
            ids_, titles_ = self._concerned(change, pages)
            ids |= ids_
            titles |= titles_
        if len(ids) + len(titles) > max(BATCH, len(pages) // 10):  # a walk asks for 500 pages at once
            return None
        found: list[PageInfo] = []
        for batch in _batches(sorted(ids)):
            found += await self.api.pages(session, {"pageids": batch})
        for batch in _batches(sorted(titles)):
            found += await self.api.pages(session, {"titles": batch})
        for info in found:
            self._apply(pages, info)
        return pages

    def _concerned(self, change: RecentChange, pages: dict[str, Entry]) -> tuple[set[int], set[str]]:
        """The page ids and titles a change may have touched (moves may come from another namespace)."""
        target = change.target
        moved_in = target is not None and target[0] in self.namespaces
        here = change.ns in self.namespaces
        ids = (
            {change.pageid} if change.pageid and (here or moved_in or str(change.pageid) in pages) else set()
        )
        titles: set[str] = set()
        if change.type == "log" and here and change.title:
            titles.add(change.title)  # deletions, restores, imports: the title is what is sure
        if moved_in and target is not None:
            titles.add(target[1])
        return ids, titles

    def _apply(self, pages: dict[str, Entry], info: PageInfo) -> None:
        if info.pageid is None:  # a title that names no page (any more)
            for key in [k for k, e in pages.items() if e.title == info.title]:
                del pages[key]
        elif info.gone or info.ns not in self.namespaces:
            pages.pop(str(info.pageid), None)
        else:
            pages[str(info.pageid)] = _entry(info)

    async def _load(self) -> Snapshot | None:
        snapshot = await self.cache.read(CACHE_KIND, Snapshot)
        return snapshot if snapshot is not None and snapshot.format == CACHE_FORMAT else None

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """The page as the wiki renders it, in an HTML file of `workdir`."""
        pageid = int(ref.doc_id.removeprefix("page/"))
        raw = workdir / f"wiki-page-{pageid}.json"
        try:
            async with self._session() as session:
                if not self._signed_in:
                    await self._sign_in(session)
                await self.api.http.download(session, self.api.parse_url(pageid), raw, self.max_bytes)
        except ListingError as exc:  # signing in failed
            raise OSError(str(exc)) from exc
        page = await asyncio.to_thread(read_parsed, raw)
        out = workdir / f"wiki-page-{pageid}.html"
        await asyncio.to_thread(out.write_text, page_html(page), encoding="utf-8")
        await asyncio.to_thread(raw.unlink)
        return out


def _entry(info: PageInfo) -> Entry:
    revision = info.revisions[0].timestamp if info.revisions else None
    updated = revision or info.touched
    if info.pageid is None or updated is None:
        raise ListingError(f"the wiki listed the page {info.title!r} without its id or last revision")
    return Entry(
        pageid=info.pageid,
        ns=info.ns,
        title=info.title,
        display=plain_title(info),
        url=info.canonicalurl or info.fullurl,
        revid=info.lastrevid,
        updated_at=updated,
    )


def _name(namespace: str) -> str:
    return namespace.replace("_", " ").strip().casefold()


def _batches(items: Iterable[int | str]) -> Iterable[str]:
    """`|`-joined groups of page ids or titles, as many as one query takes."""
    listed = [str(i) for i in items]
    return ("|".join(listed[i : i + BATCH]) for i in range(0, len(listed), BATCH))
