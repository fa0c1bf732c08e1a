"""Listing cost of the web, MediaWiki and SMB connectors against the real servers of their tests.

- Web: nginx (tests/nginx_server.py) serving a copy of Debian's Jinja documentation, crawled whole. A cold
  listing (empty cache folder) downloads every page; a warm one (the previous listing's cache, nothing
  changed) asks with If-None-Match / If-Modified-Since and gets 304s. Requests and body bytes come from
  nginx's access log.
- MediaWiki: Debian's MediaWiki (tests/mediawiki_server.py) with a few hundred pages. A full listing (no
  cache: `generator=allpages`) against an incremental one (the cache of a listing made before one edit:
  `list=recentchanges`, then the pages concerned). Each incremental run starts from the same cache file.
  API requests come from the PHP server's access log.
- SMB: Samba (tests/samba_server.py) serving a folder of small files. There is no incremental listing:
  every listing walks the folder and asks each file's security descriptor (one create/query/close round
  trip per file), so the figure that matters is the time per file; a 1-file folder gives the fixed cost
  (connection, NTLM sign-in).

Rounds interleave the two kinds of listing, so that the machine's ups and downs hit both alike, after an
uncounted listing (imports, first connections).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from bench.common import table
from ingestion.connectors.base import Connector, DocumentRef
from ingestion.connectors.cache import FileCache
from ingestion.connectors.mediawiki import MediaWikiConnector
from ingestion.connectors.smb import SmbConnector, parse_location
from ingestion.connectors.web import DEFAULT_MAX_PAGES, WebConnector
from knowledge.access import Directory
from knowledge.hosts import HostGuard
from tests.mediawiki_server import ADMIN, MEDIAWIKI, Wiki, running_wiki
from tests.nginx_server import Request, copy_docs, nginx_site
from tests.samba_server import running_samba

T = TypeVar("T")
MAX_BYTES = 25_000_000
LOOPBACK = HostGuard(["127.0.0.1"])  # the benchmark servers run on this machine
WIKI_TEXT = (
    "Page {n} of the benchmark wiki.\n\n== Scope ==\nWhat team {n} owns, and whom to ask about it.\n\n"
    "== Process ==\nRequests go through the tracker; answers come within two working days.\n"
)
FILE_TEXT = "# Note {n}\n\nA small file of the benchmark share, number {n}.\n"


class WebListing(BaseModel):
    """Cold against warm listings of one site; times are medians in seconds."""

    runs: int
    pages: int
    max_pages: int  # the budget: more than the site has
    cold_s: float
    warm_s: float
    cold_requests: int
    warm_requests: int
    cold_bytes: int  # response bodies nginx sent, from its access log
    warm_bytes: int
    warm_statuses: dict[int, int]  # HTTP status -> requests of a warm listing
    same: bool  # the warm listing gave the very refs of the cold one

    @property
    def ratio(self) -> float:
        return self.warm_s / self.cold_s


class WikiListing(BaseModel):
    """Full against incremental listings of one wiki after one edit; times are medians in seconds."""

    runs: int
    pages: int
    full_s: float
    incremental_s: float
    full_requests: int  # api.php requests of one listing
    incremental_requests: int
    incremental_walks: int  # incremental runs that fell back to a walk (should be 0)
    same: bool  # the incremental listing gave the very refs of a full one

    @property
    def ratio(self) -> float:
        return self.incremental_s / self.full_s


class SmbListing(BaseModel):
    """Listings of a folder of small files; times are medians in seconds."""

    runs: int
    files: int
    one_file_s: float  # a folder of one file: connection, sign-in, one descriptor
    first_s: float
    again_s: float  # the same connector again, nothing changed: the same work
    public: bool  # every file came out readable by Everyone, as written

    @property
    def per_file_ms(self) -> float:
        """The cost of one more file, past the fixed cost of a listing."""
        return 1000 * (self.first_s - self.one_file_s) / (self.files - 1)

    def extrapolated_s(self, files: int) -> float:
        """A listing of `files` files, by linear extrapolation (fixed cost + files x per-file cost)."""
        return self.one_file_s + files * self.per_file_ms / 1000


@asynccontextmanager
async def off_loop(manager: AbstractContextManager[T]) -> AsyncIterator[T]:
    """Enter and leave a blocking context manager (a server starting, then stopping) in a worker thread."""
    value = await asyncio.to_thread(manager.__enter__)
    try:
        yield value
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def timed_listing(connector: Connector) -> tuple[float, list[DocumentRef]]:
    """Seconds one complete listing takes, and its refs."""
    started = time.perf_counter()
    refs = [ref async for ref in connector.list_documents()]
    return time.perf_counter() - started, refs


async def measure_web(runs: int, pages: list[str] | None = None) -> WebListing:
    """Cold and warm listings of the Jinja docs (only `pages` of them if given), `runs` rounds of each."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await asyncio.to_thread(copy_docs, root / "www" / "docs", pages)
        async with off_loop(nginx_site(root / "www", root / "nginx")) as site:

            def connector(cache: Path) -> WebConnector:
                return WebConnector(
                    [site.url("docs/")],
                    ["public"],
                    cache=FileCache(cache),
                    max_pages=DEFAULT_MAX_PAGES,
                    guard=LOOPBACK,
                )

            async def served(cache: Path) -> tuple[float, list[DocumentRef], list[Request]]:
                before = len(await asyncio.to_thread(site.requests))
                took, refs = await timed_listing(connector(cache))
                return took, refs, (await asyncio.to_thread(site.requests))[before:]

            await served(root / "warm-up")  # uncounted: imports, first connections
            cold, warm, same = [], [], True
            for n in range(runs):
                took, cold_refs, cold_log = await served(root / f"cache-{n}")  # a new, empty cache folder
                cold.append(took)
                took, warm_refs, warm_log = await served(root / f"cache-{n}")
                warm.append(took)
                same = same and warm_refs == cold_refs
    if len(cold_refs) >= DEFAULT_MAX_PAGES:
        raise RuntimeError("the page budget stopped the listing: the bench must list the whole site")
    return WebListing(
        runs=runs,
        pages=len(cold_refs),
        max_pages=DEFAULT_MAX_PAGES,
        cold_s=statistics.median(cold),
        warm_s=statistics.median(warm),
        cold_requests=len(cold_log),
        warm_requests=len(warm_log),
        cold_bytes=sum(r.sent for r in cold_log),
        warm_bytes=sum(r.sent for r in warm_log),
        warm_statuses=dict(sorted(Counter(r.status for r in warm_log).items())),
        same=same,
    )


async def import_quietly(wiki: Wiki, pages: dict[str, str]) -> None:
    """Create pages in one importTextFiles.php run, left out of the recent changes, as pages made long
    ago are: `Wiki.write` puts every revision there, and the connector re-reads the last 10 minutes of
    changes (`CHANGES_OVERLAP`), so a listing made just after it would walk every page again."""
    folder = wiki.root / "bulk"
    files = []
    for n, (title, text) in enumerate(pages.items()):
        path = folder / str(n) / title  # the file name is the title
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    proc = await asyncio.create_subprocess_exec(
        "php",
        str(MEDIAWIKI / "maintenance" / "importTextFiles.php"),
        "--overwrite",
        "--user",
        ADMIN,
        *files,
        env={**os.environ, "MW_CONFIG_FILE": str(wiki.root / "LocalSettings.php")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"importTextFiles.php failed ({proc.returncode}): {out.decode(errors='replace')}")


async def measure_wiki(runs: int, pages: int = 200) -> WikiListing:
    """Full and incremental listings of a wiki of `pages` pages plus its Main Page, `runs` rounds of each."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wiki").mkdir()
        async with off_loop(running_wiki(root / "wiki")) as wiki:
            await import_quietly(wiki, {f"Bench page {n}": WIKI_TEXT.format(n=n) for n in range(pages)})
            await wiki.write({"Bench page 0": WIKI_TEXT.format(n="zero")})  # the oldest recent change

            def connector(cache: Path) -> MediaWikiConnector:
                return MediaWikiConnector(
                    wiki.api, access=["public"], cache=FileCache(cache), max_bytes=MAX_BYTES, guard=LOOPBACK
                )

            async def asked(made: MediaWikiConnector) -> tuple[float, list[DocumentRef], int]:
                before = await asyncio.to_thread(wiki.requests, "/api.php")
                took, refs = await timed_listing(made)
                return took, refs, await asyncio.to_thread(wiki.requests, "/api.php") - before

            snapshot = root / "before-the-edit"
            await timed_listing(connector(snapshot))  # also the uncounted warm-up
            await wiki.write({"Bench page 1": WIKI_TEXT.format(n="one, edited")})
            full, incremental, walks, same = [], [], 0, True
            for n in range(runs):
                took, full_refs, full_requests = await asked(connector(root / f"full-{n}"))
                full.append(took)
                cache = root / f"incremental-{n}"
                await asyncio.to_thread(shutil.copytree, snapshot, cache)
                made = connector(cache)
                took, refs, incremental_requests = await asked(made)
                incremental.append(took)
                walks += made.full_listings
                same = same and refs == full_refs
    return WikiListing(
        runs=runs,
        pages=len(full_refs),
        full_s=statistics.median(full),
        incremental_s=statistics.median(incremental),
        full_requests=full_requests,
        incremental_requests=incremental_requests,
        incremental_walks=walks,
        same=same,
    )


def write_notes(folder: Path, files: int) -> None:
    """`files` small Markdown files in a new `folder`."""
    folder.mkdir()
    for n in range(files):
        (folder / f"note-{n:05}.md").write_text(FILE_TEXT.format(n=n), encoding="utf-8")


async def measure_smb(runs: int, files: int = 500) -> SmbListing:
    """Listings of a folder of `files` small files and of a 1-file folder, `runs` rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        async with off_loop(running_samba(Path(tmp))) as samba:
            await asyncio.to_thread(write_notes, samba.root / "many", files)
            await asyncio.to_thread(write_notes, samba.root / "one", 1)
            directory = Directory(accounts={"S-1-1-0": ["public"]})

            def connector(folder: str) -> SmbConnector:
                share = parse_location(samba.location(folder))
                return SmbConnector([share], samba.user, samba.password, directory, MAX_BYTES)

            await timed_listing(connector("one"))  # uncounted: smbclient's import, first connection
            one, first, again, public = [], [], [], True
            for _ in range(runs):
                one.append((await timed_listing(connector("one")))[0])
                made = connector("many")
                took, refs = await timed_listing(made)
                first.append(took)
                again.append((await timed_listing(made))[0])
                public = public and len(refs) == files and all(r.acl == ["public"] for r in refs)
    return SmbListing(
        runs=runs,
        files=files,
        one_file_s=statistics.median(one),
        first_s=statistics.median(first),
        again_s=statistics.median(again),
        public=public,
    )


CONNECTORS_COMMAND = ".venv/bin/python -m bench.run --only connectors --out /tmp/conn-bench.md"
SIZING_FILES = 10_000  # the share size the SMB figures are extrapolated to


async def section(quick: bool) -> str:
    """Listing cost of the web, MediaWiki and SMB connectors: incremental against full, or per file."""
    web = await measure_web(1 if quick else 9, ["index.html", "intro.html"] if quick else None)
    wiki = await measure_wiki(1 if quick else 9, 20 if quick else 200)
    smb = await measure_smb(1 if quick else 5, 50 if quick else 500)
    statuses = ", ".join(f"{count} x {status}" for status, count in web.warm_statuses.items())
    sized = smb.extrapolated_s(SIZING_FILES)

    def row(who: str, listing: str, items: int, seconds: float, ratio: str, *rest: str) -> list[str]:
        return [
            who,
            listing,
            f"{items:,}",
            f"{1000 * seconds:.0f}",
            f"{1000 * seconds / items:.2f}",
            ratio,
            *rest,
        ]

    rows = [
        row(
            "web",
            "cold: empty cache folder",
            web.pages,
            web.cold_s,
            "1.00",
            str(web.cold_requests),
            f"{web.cold_bytes:,}",
        ),
        row(
            "web",
            "warm: the last listing's cache, nothing changed",
            web.pages,
            web.warm_s,
            f"{web.ratio:.2f}",
            str(web.warm_requests),
            f"{web.warm_bytes:,}",
        ),
        row(
            "MediaWiki",
            "full: walk (`generator=allpages`), no cache",
            wiki.pages,
            wiki.full_s,
            "1.00",
            str(wiki.full_requests),
            "",
        ),
        row(
            "MediaWiki",
            "incremental: `recentchanges` since the cache, 1 edit",
            wiki.pages,
            wiki.incremental_s,
            f"{wiki.ratio:.2f}",
            str(wiki.incremental_requests),
            "",
        ),
        row("SMB", "a 1-file folder (connection, sign-in, 1 file)", 1, smb.one_file_s, "", "", ""),
        row("SMB", f"{smb.files:,} files", smb.files, smb.first_s, "1.00", "", ""),
        row(
            "SMB",
            "the same again, nothing changed (no incremental listing)",
            smb.files,
            smb.again_s,
            f"{smb.again_s / smb.first_s:.2f}",
            "",
            "",
        ),
        row("SMB", f"**extrapolated**: {SIZING_FILES:,} files (linear)", SIZING_FILES, sized, "", "", ""),
    ]
    checks = {
        "the warm web listing gave the cold one's refs": web.same,
        "the incremental wiki listing gave a full one's refs": wiki.same,
        "no incremental wiki run fell back to a walk": wiki.incremental_walks == 0,
        "every SMB file was listed, readable by Everyone": smb.public,
    }
    return (
        "## Connector listings\n\n"
        f"`{CONNECTORS_COMMAND}` (`--quick`: 2 web pages, 20 wiki pages, 50 files, one round). What one "
        "complete `list_documents()` of a connector costs against the real servers of its tests (see "
        "bench/connectors.py); medians of interleaved rounds "
        f"(web {web.runs}, MediaWiki {wiki.runs}, SMB {smb.runs}), a new connector per listing as a sync "
        "makes one. *Requests*: from the server's access log (nginx; PHP's built-in server, `api.php` "
        "only); *body bytes*: nginx's `$body_bytes_sent`.\n\n"
        "**Web**: nginx serving a copy of Debian's Jinja documentation (`python-jinja2-doc`), crawled from "
        f"its index with a page budget of {web.max_pages} (the site has fewer pages). A cold "
        "listing downloads every page and keeps its main content (a later fetch downloads nothing); a warm "
        "one asks with If-None-Match / If-Modified-Since and follows the cached links. Statuses of a warm "
        f"listing: {statuses}.\n\n"
        f"**MediaWiki**: Debian's MediaWiki (SQLite, PHP's built-in server, 2 workers), {wiki.pages} "
        "content pages; the bulk of them created out of the recent changes (as if long ago: the connector "
        "re-reads the last 10 minutes of changes, so pages created just before would all count as "
        "changed). The cache of a listing made before one edit is restored before every incremental "
        "run.\n\n"
        "**SMB**: Samba serving a folder of small Markdown files. There is no incremental listing: every "
        "listing walks the folder and asks every file's security descriptor (one create/query/close "
        "round trip per file), so a listing of an unchanged share costs what the first did. Per file past "
        f"the fixed cost: **{smb.per_file_ms:.2f} ms** (the {smb.files:,}-file listing minus the 1-file "
        f"one, over {smb.files - 1:,}); a {SIZING_FILES:,}-file share would thus take about "
        f"**{sized:.0f} s** per listing (*extrapolated* linearly, not measured).\n\n"
        + table(
            ["connector", "listing", "items", "p50 ms", "ms per item", "ratio", "requests", "body bytes"],
            rows,
        )
        + "\n\nChecks: "
        + "; ".join(f"{what}: {'yes' if ok else '**NO**'}" for what, ok in checks.items())
        + ".\n"
    )
