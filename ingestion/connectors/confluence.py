"""The Confluence connector (Cloud and Data Center, REST v1): the pages of some or all spaces, with their
attachments in the formats Lore reads, each with the access its space permission and page restrictions
give (ingestion/connectors/confluence_access.py).

Incremental listing. A full listing asks for every page of each space (version, ancestors and read
restrictions expanded) and for the attachments of each page; it is kept in the source's connector cache
(shared by the workers of a fleet: ingestion/connectors/cache.py). Within 24 hours the next listing asks CQL
what was modified since (`lastmodified >= "yyyy-MM-dd HH:mm"`). CQL reads that date in the site's or the
account's time zone, which Lore does not know, so it asks from 12 hours before the last listing, in UTC (every
zone is covered), and tells what really changed by the versions it knows. It lists the attachments of those
pages only, and takes the current pages of each space from one lighter listing (ancestors and read
restrictions; no versions, bodies or attachments) to drop deleted pages and to recompute every page's access:
changing a restriction does not change a page's last-modified time, so restrictions are read at every sync. A
page that appears without CQL reporting it (moved in from another space) makes its space listed in full; an
attachment deleted while its page did not change goes at the next full listing. A page whose read restrictions
(or an ancestor's) Lore cannot see is listed as a failed entry that nobody may read, with its attachments.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.cache import ConnectorCache, connector_cache
from ingestion.connectors.confluence_access import (
    Layer,
    cloud_space_layer,
    combine,
    dc_space_layer,
    restriction_layer,
)
from ingestion.connectors.confluence_api import (
    AttachmentState,
    Content,
    PageState,
    Site,
    Snapshot,
    Space,
    absolute,
)
from ingestion.connectors.http import Http
from ingestion.kinds.confluence import CONFLUENCE_KIND
from knowledge.access import Directory
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Source

log = logging.getLogger(__name__)

CORE_SUFFIXES = frozenset({".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".md", ".txt", ".html"})
FULL_EVERY = timedelta(hours=24)  # an older listing is not trusted: list everything again
# CQL is asked from this long before the last listing: UTC-12 is the zone furthest behind UTC
MARGIN = timedelta(hours=12, minutes=10)
FANOUT = 4  # attachment listings at once
CACHE_KIND = "confluence-listing"
CACHE_FILE = f"{CACHE_KIND}.json"  # its file in embedded mode
READ_RESTRICTIONS = "restrictions.read.restrictions.user,restrictions.read.restrictions.group"
FULL_EXPAND = f"version,ancestors,{READ_RESTRICTIONS}"
LIGHT_EXPAND = f"ancestors,{READ_RESTRICTIONS}"
_HEADING = re.compile(r"<(/?)h([1-5])(?=[\s>])", re.IGNORECASE)


class ConfluenceConnector:
    """The pages (`<space>/<page id>`) and attachments (`<space>/<page id>/attachments/<id>`) of a site."""

    kind = CONFLUENCE_KIND

    def __init__(
        self,
        base_url: str,
        *,
        http: Http,
        directory: Directory,
        cache: ConnectorCache,
        max_bytes: int,
        spaces: list[str] | None = None,
        cloud: bool = True,
        page_limit: int = 100,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.http = http
        self.directory = directory
        self.cache = cache
        self.max_bytes = max_bytes
        self.spaces = spaces
        self.cloud = cloud
        self.page_limit = page_limit
        self.site_id = f"{self.base} {','.join(spaces or ['*'])}"
        self.notes: list[str] = []
        self.incremental: list[str] = []  # spaces the last listing took incrementally (for tests and logs)
        self._snapshot: Snapshot | None = None

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> ConfluenceConnector:
        """Cloud when `user=` (an email) is given: basic auth with an API token; else a Data Center personal
        access token sent as a bearer token."""
        if source.credentials is None:
            raise ListingError("a confluence source needs credentials (its API token)", retryable=False)
        token = source.credentials.resolve(settings.secrets_dir)
        user = source.options.get("user")
        if user:
            basic = base64.b64encode(f"{user}:{token}".encode()).decode()
            secret = {"Authorization": f"Basic {basic}"}
        else:
            secret = {"Authorization": f"Bearer {token}"}
        guard = HostGuard(settings.allowed_internal_hosts)
        http = Http(credentials=secret, home=source.location[0], guard=guard, what="Confluence")
        try:
            directory = Directory.load(settings.directory_file)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ListingError(f"directory file: {exc}", retryable=False) from exc
        spaces = [k for k in source.options.get("spaces", "").split(",") if k]
        return cls(
            source.location[0],
            http=http,
            directory=directory,
            cache=connector_cache(source.id, settings),
            max_bytes=int(settings.max_file_mb * 1_000_000),
            spaces=spaces or None,
            cloud=bool(user),
        )

    # ----- listing

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every page and attachment of the spaces; raises ListingError unless the listing is complete."""
        for ref in await self._listing():
            yield ref

    async def _listing(self) -> list[DocumentRef]:
        started = datetime.now(UTC)
        old = await self._load(started)
        self.incremental, self.notes = [], []
        async with self.http.session() as session:
            site = Site(self.http, session, self.base, cloud=self.cloud, limit=self.page_limit)
            spaces, base = await site.spaces(self.spaces)
            layers = await self._space_layers(site, spaces)
            listed: dict[str, dict[str, Content]] = {}
            states: dict[str, dict[str, PageState]] = {}
            for key in layers:
                listed[key], states[key] = await self._space(site, key, old, started)
        snapshot = Snapshot(site=self.site_id, taken_at=started, base=base or self.base, spaces=states)
        await self.cache.replace(CACHE_KIND, snapshot)
        self._snapshot = snapshot
        if unseen := [space.key for space in spaces if space.key not in layers]:
            self.notes.append(
                f"spaces left out because Lore cannot see who may view them: {', '.join(unseen)} (give its "
                "account the space's Admin permission to index them)"
            )
        if skipped := sum(p.skipped for pages in states.values() for p in pages.values()):
            self.notes.append(
                f"{skipped} attachment{'' if skipped == 1 else 's'} skipped (not a format Lore reads)"
            )
        return [
            ref
            for key in states
            for ref in self._refs(key, layers[key], listed[key], states[key], snapshot.base)
        ]

    async def _space_layers(self, site: Site, spaces: list[Space]) -> dict[str, Layer]:
        """Who may view each space. Without spaces= a space whose viewers Lore cannot see is left out (a
        note says so: its pages would be readable by nobody); a space named in spaces= fails the listing."""
        layers: dict[str, Layer] = {}
        for space in spaces:
            try:
                layers[space.key] = await self._space_layer(site, space)
            except ListingError as exc:
                if self.spaces is not None or exc.retryable:
                    raise
                log.warning("Confluence space %s left out: %s", space.key, exc)
        return layers

    async def _space_layer(self, site: Site, space: Space) -> Layer:
        """Who may view `space`: Cloud's `permissions` expansion, Data Center's permissions resource."""
        if space.permissions is not None:
            layer = cloud_space_layer(space.permissions, self.directory)
        elif self.cloud:  # the space list left them out: ask the space itself
            layer = cloud_space_layer(await site.cloud_permissions(space.key), self.directory)
        else:
            layer = dc_space_layer(await site.dc_permissions(space.key), self.directory)
        if layer is None:
            raise ListingError(
                f"Confluence shows Lore nobody who may view space {space.key}: give Lore's account the "
                "space's Admin permission (Space settings > Permissions) so that it can read them, or leave "
                "the space out with spaces=",
                retryable=False,
            )
        return layer

    async def _space(
        self, site: Site, key: str, old: Snapshot | None, now: datetime
    ) -> tuple[dict[str, Content], dict[str, PageState]]:
        """The pages of one space (with fresh restrictions and ancestors) and their states."""
        cached = old.spaces.get(key) if old else None
        if old is not None and cached is not None:
            listed = await site.pages(key, LIGHT_EXPAND)
            changed, touched = _changes(await site.changes(key, old.taken_at - MARGIN), cached)
            if all(pid in cached or pid in changed for pid in listed):
                states: dict[str, PageState] = {}
                for pid, page in listed.items():
                    state = PageState.of(changed[pid]) if pid in changed else cached[pid]
                    states[pid] = state.model_copy(update={"title": page.title or state.title})
                await self._attachments(site, states, [p for p in listed if p in changed or p in touched])
                self.incremental.append(key)
                return listed, states
            log.info("space %s has pages CQL did not report (moved in?): listing it in full", key)
        listed = await site.pages(key, FULL_EXPAND)
        states = {pid: PageState.of(page) for pid, page in listed.items()}
        await self._attachments(site, states, list(states))
        return listed, states

    async def _attachments(self, site: Site, states: dict[str, PageState], page_ids: list[str]) -> None:
        """List the attachments of `page_ids` again (a few at a time), keeping the core formats."""
        limit = asyncio.Semaphore(FANOUT)

        async def one(page_id: str) -> None:
            async with limit:
                try:
                    found = await site.attachments(page_id)
                except ListingError as exc:
                    if exc.status != 404:
                        raise
                    raise ListingError(
                        f"page {page_id} was deleted while Lore listed it; trying again"
                    ) from exc
            kept = [a for a in (AttachmentState.of(item, CORE_SUFFIXES) for item in found) if a is not None]
            skipped = len(found) - len(kept)
            states[page_id] = states[page_id].model_copy(update={"attachments": kept, "skipped": skipped})

        try:
            async with asyncio.TaskGroup() as group:
                for page_id in page_ids:
                    group.create_task(one(page_id))
        except ExceptionGroup as failed:  # the first failure says what is wrong
            raise failed.exceptions[0] from None

    def _refs(
        self, key: str, space: Layer, listed: dict[str, Content], states: dict[str, PageState], base: str
    ) -> list[DocumentRef]:
        own = {pid: restriction_layer(page.restrictions, self.directory) for pid, page in listed.items()}
        hidden = {
            pid for pid, page in listed.items() if page.restrictions is None or page.restrictions.read is None
        }
        refs: list[DocumentRef] = []
        for pid, page in listed.items():
            layers = [space]
            unknown = "Confluence left its read restrictions out of the answer" if pid in hidden else ""
            for ancestor in page.ancestors:
                if ancestor.id not in own:  # an ancestor Lore cannot list (archived, a draft): unknown
                    unknown = f"its ancestor page {ancestor.id} is not listed (archived, or a draft?)"
                elif ancestor.id in hidden:
                    unknown = f"the read restrictions of its ancestor page {ancestor.id} were left out"
                elif (layer := own[ancestor.id]) is not None:
                    layers.append(layer)
            if (layer := own[pid]) is not None:
                layers.append(layer)
            problem = f"who may read it is unknown: {unknown}; nobody may read it in Lore" if unknown else ""
            if problem:
                log.warning("page %s/%s: %s", key, pid, problem)
            acl = [] if unknown else combine(layers, self.directory)
            state = states[pid]
            refs.append(
                DocumentRef(
                    doc_id=f"{key}/{pid}",
                    version=str(state.version),
                    acl=acl,
                    updated_at=state.when,
                    title=state.title,
                    url=absolute(base, state.webui),
                    problem=problem,
                )
            )
            refs.extend(
                DocumentRef(
                    doc_id=f"{key}/{pid}/attachments/{att.id}",
                    version=str(att.version),
                    acl=acl,
                    updated_at=att.when,
                    title=f"{state.title} / {att.title}",
                    url=absolute(base, att.webui or att.download),
                    size=att.size,
                    problem=problem,
                )
                for att in state.attachments
            )
        return refs

    # ----- the listing kept between syncs

    async def _load(self, now: datetime) -> Snapshot | None:
        """The last listing, if it is for this site and spaces and recent enough to build on."""
        snapshot = await self.cache.read(CACHE_KIND, Snapshot)
        if (
            snapshot is None
            or snapshot.site != self.site_id
            or not timedelta(0) <= now - snapshot.taken_at < FULL_EVERY
        ):
            return None
        return snapshot

    # ----- fetching

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """A page as a small HTML file (its title as h1), or an attachment downloaded with its suffix."""
        key, page_id, *rest = ref.doc_id.split("/")
        if rest:
            attachment = await self._attachment_of(key, page_id, rest[-1])
            dest = workdir / f"{page_id}-{attachment.id}{Path(attachment.title).suffix.lower()}"
            async with self.http.session() as session:
                await self.http.download(
                    session, absolute(self.base, attachment.download), dest, self.max_bytes
                )
            return dest
        async with self.http.session() as session:
            site = Site(self.http, session, self.base, cloud=self.cloud, limit=self.page_limit)
            try:
                page = await site.rendered(page_id)
            except ListingError as exc:
                raise OSError(str(exc)) from exc
        body = page.body.export_view or page.body.view if page.body else None
        text = page_html(ref.title or page.title, body.value if body else "")
        size = len(text.encode("utf-8"))
        if size > self.max_bytes:
            limit = self.max_bytes / 1e6
            raise ValueError(f"file too large ({size / 1e6:.1f} MB > {limit:.0f} MB limit, LORE_MAX_FILE_MB)")
        dest = workdir / f"{key}-{page_id}.html"
        await asyncio.to_thread(dest.write_text, text, "utf-8")
        return dest

    async def _attachment_of(self, key: str, page_id: str, attachment_id: str) -> AttachmentState:
        snapshot = self._snapshot or await self._load(datetime.now(UTC))
        page = snapshot.spaces.get(key, {}).get(page_id) if snapshot else None
        for attachment in page.attachments if page else []:
            if attachment.id == attachment_id:
                return attachment
        raise OSError(
            f"attachment {attachment_id} of page {page_id} is not listed any more; the next sync drops it"
        )


def page_html(title: str, body: str) -> str:
    """The file the parser reads: the title as h1, the page's own headings one level down."""
    shown = html.escape(title)
    demoted = _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", body)
    return (
        f'<html><head><meta charset="utf-8"><title>{shown}</title></head>'
        f"<body><h1>{shown}</h1>\n{demoted}\n</body></html>\n"
    )


def _changes(found: list[Content], cached: dict[str, PageState]) -> tuple[dict[str, Content], set[str]]:
    """Of what CQL reported: the pages whose version Lore does not know yet (by id), and the pages with an
    attachment Lore does not know in that version."""
    known = {(a.id, a.version) for page in cached.values() for a in page.attachments}
    changed = {
        item.id: item
        for item in found
        if item.type == "page"
        and (item.id not in cached or item.version is None or item.version.number != cached[item.id].version)
    }
    touched = {
        item.container.id
        for item in found
        if item.type == "attachment"
        and item.container
        and (item.id, item.version.number if item.version else None) not in known
    }
    return changed, touched
