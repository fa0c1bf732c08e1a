"""The web connector against a real nginx on loopback serving copies of Debian's Jinja documentation (Sphinx
HTML with navigation sidebars): a crawl bounded by the start folder and robots.txt, sitemaps, the page
budget, conditional requests between syncs, main content without navigation, listing failures, and the
whole path from `/lore add web` to answers by access."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.cache import FileCache
from ingestion.connectors.web import WebConnector
from ingestion.connectors.web_fetch import MAX_CRAWL_DELAY, Pacer
from ingestion.connectors.web_pages import extract
from knowledge.access import Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from tests.conftest import free_port
from tests.nginx_server import Site, copy_docs, nginx_site
from tests.slack_standin import SlackStandin
from tests.sources_harness import deployed, docs_found, said, work

PAGES = ["index.html", "intro.html", "faq.html", "license.html", "tricks.html"]
CRAWLED = [  # /crawl/: the start page, then its links sorted; extensions.html is disallowed by robots.txt
    "index", "api.html", "changes.html", "faq.html", "genindex.html", "integration.html", "intro.html",
    "license.html", "nativetypes.html", "py-modindex.html", "sandbox.html", "switching.html",
    "templates.html", "tricks.html",
]  # fmt: skip
NOW = datetime.now(UTC)
LOOPBACK = HostGuard(["127.0.0.1"])  # the test site listens there
NAVIGATION = ("Quick search", "Navigation", "Copyright 2025 Pallets", "Created using", "Permalink", "¶")
ROBOTS = """User-agent: *
Disallow: /

User-agent: LoreBot
Disallow: /crawl/extensions.html

Sitemap: {base}maps/index.xml
"""
INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{base}maps/mapped.xml</loc></sitemap>
</sitemapindex>
"""
URLSET = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>
"""


def urlset(*entries: str) -> str:
    return URLSET.format(entries="".join(f"<url>{e}</url>" for e in entries))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """nginx serving /crawl/ (all the docs, a link out of the folder), /mapped/ (pages in robots.txt's
    sitemap) and /auto/ (a sitemap.xml of its own)."""
    tmp = tmp_path_factory.mktemp("web")
    www = tmp / "www"
    crawl = copy_docs(www / "crawl")
    inject(crawl / "index.html", '<p><a href="../outside.html">Outside the folder</a></p>')
    (www / "outside.html").write_text("<html><title>Outside</title><body>Not ours.</body></html>")
    copy_docs(www / "mapped", PAGES)
    copy_docs(www / "auto", PAGES)
    (www / "trap").mkdir()
    (www / "trap/page.html").write_text('<html><body><p>Deeper?</p><a href="more/">more</a></body></html>')
    (www / "maps").mkdir()
    with nginx_site(www, tmp / "nginx") as running:
        base = running.url()
        (www / "robots.txt").write_text(ROBOTS.format(base=base))
        (www / "maps/index.xml").write_text(INDEX.format(base=base))
        (www / "maps/mapped.xml").write_text(
            urlset(
                f"<loc>{base}mapped/intro.html</loc><lastmod>2025-05-17</lastmod>",
                f"<loc>{base}mapped/faq.html</loc>",
                f"<loc>{base}mapped/missing.html</loc>",
                f"<loc>{base}outside.html</loc>",  # outside /mapped/: ignored
            )
        )
        (www / "auto/sitemap.xml").write_text(urlset(f"<loc>{base}auto/tricks.html</loc>"))
        (www / "maps/auto.xml").write_text(
            urlset(*(f"<loc>{base}{page}</loc>" for page in ("auto/faq.html", "crawl/", "auto/intro.html")))
        )
        yield running


def inject(page: Path, html: str) -> None:
    """Put `html` at the top of a Sphinx page's main content."""
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace('role="main">', f'role="main">{html}', 1), encoding="utf-8")


def web(site: Site, path: str, tmp_path: Path, max_pages: int = 500, sitemap: str = "") -> WebConnector:
    """A connector of the site's `path` folder, failing at once when a request fails."""
    return WebConnector(
        [site.url(path)],
        ["public"],
        cache=FileCache(tmp_path / "cache"),
        max_pages=max_pages,
        sitemap=sitemap,
        retries=0,
        guard=LOOPBACK,
    )


async def listed(connector: WebConnector) -> list[DocumentRef]:
    return [ref async for ref in connector.list_documents()]


async def test_a_crawl_stays_in_the_start_folder_and_honours_robots_txt(site: Site, tmp_path: Path) -> None:
    connector = WebConnector(
        [site.url("crawl/")],
        ["public"],
        {"api.html": ["group:staff"]},
        cache=FileCache(tmp_path / "cache"),
        guard=LOOPBACK,
    )
    refs = await listed(connector)
    assert [r.doc_id for r in refs] == CRAWLED and connector.notes == []
    by_id = {r.doc_id: r for r in refs}
    assert by_id["intro.html"].url == site.url("crawl/intro.html")
    assert by_id["intro.html"].title == "Introduction — Jinja Documentation (3.1.x)"
    assert by_id["index"].url == site.url("crawl/")  # index.html is the same page: listed once
    assert by_id["api.html"].acl == ["group:staff"] and by_id["faq.html"].acl == ["public"]
    asked = {r.path for r in site.requests()}
    assert "/crawl/extensions.html" not in asked and "/outside.html" not in asked
    assert not any(p.startswith("/crawl/_") for p in asked)  # sources, images and styles are not pages


async def test_a_page_budget_keeps_the_first_pages_and_says_so(site: Site, tmp_path: Path) -> None:
    connector = web(site, "crawl/", tmp_path, max_pages=3)
    assert [r.doc_id for r in await listed(connector)] == ["index", "api.html", "changes.html"]
    assert connector.notes == ["page budget of 3 pages reached: raise max_pages to index more"]


async def test_a_crawl_trap_of_endless_copies_stops_and_says_so(site: Site, tmp_path: Path) -> None:
    connector = web(site, "trap/", tmp_path, max_pages=2)
    assert [r.doc_id for r in await listed(connector)] == ["index"]  # every other URL is a copy of it
    assert len(site.requests("/trap/")) == 3 * 2 + 100 + 1  # the budget's requests, and sitemap.xml
    assert connector.notes == [
        "crawl stopped after 106 requests: most links led to copies, redirects, missing or non-HTML pages; "
        "give a sitemap= to list the pages directly"
    ]


async def test_the_main_content_leaves_the_navigation_out(site: Site, tmp_path: Path) -> None:
    connector = web(site, "crawl/", tmp_path, max_pages=7)
    [intro] = [r for r in await listed(connector) if r.doc_id == "intro.html"]
    served = len(site.requests())
    text = (await connector.fetch(intro, tmp_path)).read_text(encoding="utf-8")
    assert len(site.requests()) == served  # the listing kept the page: fetching downloads nothing
    assert "<h1>Introduction — Jinja Documentation (3.1.x)</h1>" in text
    assert "Jinja is a fast, expressive, extensible templating engine." in text
    assert "<h2>Installation</h2>" in text and "<h3>Optional Dependencies</h3>" in text
    assert [w for w in NAVIGATION if w in text] == []
    assert "Navigation" in (site.state.parent / "www/crawl/intro.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("page", "kept", "dropped"),
    [
        (  # MkDocs Material
            '<header class="md-header">Site</header><div class="md-sidebar">Menu</div><main>'
            '<article class="md-content__inner"><h1>Setup</h1><p>Run make.</p></article></main>'
            '<footer class="md-footer">Made with Material</footer>',
            "Run make.",
            ["Menu", "Made with Material", "Site"],
        ),
        (  # Docusaurus
            '<nav class="navbar">Docs Blog</nav><aside class="theme-doc-sidebar-container">Intro</aside>'
            '<main><div class="theme-doc-breadcrumbs">Home</div><article><header><h1>Setup</h1></header>'
            '<p>Run make.</p><footer class="theme-doc-footer">Edit this page</footer></article>'
            '<div class="theme-doc-toc-desktop">On this page</div></main>',
            "Run make.",
            ["Docs Blog", "Intro", "Home", "Edit this page", "On this page"],
        ),
        (  # Sphinx: a section about navigation is content (its id comes from its title)
            '<div class="body" role="main"><section id="navigation"><h2>Navigation</h2><p>Use the arrow '
            'keys.</p></section></div><div class="sphinxsidebar" role="navigation">Table of contents</div>',
            "Use the arrow keys.",
            ["Table of contents"],
        ),
        (  # no landmarks at all: the body, without scripts and forms
            '<div id="sidebar">Links</div><p>Run make.</p><form>Search</form><script>var x;</script>',
            "Run make.",
            ["Links", "Search", "var x"],
        ),
    ],
)
def test_main_content_of_other_documentation_generators(page: str, kept: str, dropped: list[str]) -> None:
    document = extract(
        f"<html><head><title>Setup</title></head><body>{page}</body></html>".encode(), "http://h/"
    ).document
    assert kept in document and [d for d in dropped if d in document] == []


def test_robots_meta_and_canonical_links_are_read() -> None:
    page = extract(
        b'<html><head><meta name="robots" content="noindex, nofollow"><link rel="canonical" href="b.html">'
        b'</head><body><a href="c.html#x">c</a><a href="mailto:x@y">m</a></body></html>',
        "http://h/docs/a.html",
    )
    assert (page.noindex, page.nofollow, page.canonical) == (True, True, "http://h/docs/b.html")
    assert page.links == ["http://h/docs/c.html"]


async def test_robots_txt_sitemap_lists_its_pages_in_order(site: Site, tmp_path: Path) -> None:
    connector = web(site, "mapped/", tmp_path)
    refs = await listed(connector)
    assert [r.doc_id for r in refs] == [
        "intro.html",
        "faq.html",
    ]  # missing.html 404s; outside.html is outside
    assert {r.path for r in site.requests("/mapped/")} == {
        "/mapped/intro.html",
        "/mapped/faq.html",
        "/mapped/missing.html",
    }
    served = len(site.requests("/mapped/"))
    assert [r.version for r in await listed(connector)] == [r.version for r in refs]
    again = [r.path for r in site.requests("/mapped/")[served:]]
    assert again == ["/mapped/faq.html", "/mapped/missing.html"]  # intro.html's lastmod did not change


@pytest.mark.parametrize(
    ("start", "sitemap", "ids"),
    [
        ("auto/", "", ["tricks.html"]),  # the folder's own sitemap.xml
        ("auto/", "{base}maps/auto.xml", ["faq.html", "intro.html"]),  # the option wins; only the folder's
        ("mapped/", "", ["intro.html", "faq.html"]),  # robots.txt's sitemap, through a sitemap index
    ],
)
async def test_the_sitemap_option_and_a_folders_sitemap(
    site: Site, tmp_path: Path, start: str, sitemap: str, ids: list[str]
) -> None:
    connector = web(site, start, tmp_path, sitemap=sitemap.format(base=site.url()))
    assert [r.doc_id for r in await listed(connector)] == ids


async def test_several_start_urls_each_use_their_sitemap_or_a_crawl(site: Site, tmp_path: Path) -> None:
    overrides = {"faq.html": ["group:staff"]}  # relative to each start URL's folder
    starts = [site.url("mapped/"), site.url("crawl/")]
    connector = WebConnector(
        starts,
        ["public"],
        overrides,
        cache=FileCache(tmp_path / "cache"),
        max_pages=4,
        retries=0,
        guard=LOOPBACK,
    )
    refs = await listed(connector)
    ids = ["mapped/intro.html", "mapped/faq.html", "crawl/index", "crawl/api.html"]
    assert [r.doc_id for r in refs] == [f"127.0.0.1:{site.port}/{i}" for i in ids]
    assert [r.acl for r in refs] == [["public"], ["group:staff"], ["public"], ["public"]]
    assert connector.notes == ["page budget of 4 pages reached: raise max_pages to index more"]


async def test_a_second_listing_asks_with_validators_and_reads_only_what_changed(
    site: Site, tmp_path: Path
) -> None:
    folder = copy_docs(site.state.parent / "www/incr", PAGES)
    connector = web(site, "incr/", tmp_path)
    first = {r.doc_id: r.version for r in await listed(connector)}
    assert set(first) == {"index", *PAGES[1:]}
    served = len(site.requests("/incr/"))
    assert {r.doc_id: r.version for r in await listed(connector)} == first
    again = site.requests("/incr/")[served:]
    assert {r.path for r in again if r.status == 304} == {"/incr/", *(f"/incr/{p}" for p in PAGES)}
    assert {r.status for r in again} == {304, 404}  # 404: sitemap.xml, and the pages not copied
    assert sum(r.sent for r in again if r.status == 304) == 0

    faq = folder / "faq.html"
    faq.write_text(faq.read_text().replace("</a>.</p>", "</a>. Nor after a cat.</p>", 1))
    os.utime(faq, (faq.stat().st_mtime + 60, faq.stat().st_mtime + 60))
    (folder / "license.html").unlink()
    refs = await listed(connector)
    third = {r.doc_id: r.version for r in refs}
    assert set(third) == set(first) - {"license.html"}
    assert [d for d in third if third[d] != first[d]] == ["faq.html"]
    [changed] = [r for r in refs if r.doc_id == "faq.html"]
    assert "Nor after a cat." in (await connector.fetch(changed, tmp_path)).read_text(encoding="utf-8")


async def test_fetching_without_a_listing_downloads_the_page_and_a_gone_page_is_an_error(
    site: Site, tmp_path: Path
) -> None:
    connector = web(site, "crawl/", tmp_path)
    faq = DocumentRef(
        doc_id="faq.html", version="1", acl=["public"], updated_at=NOW, url=site.url("crawl/faq.html")
    )
    served = len(site.requests("/crawl/faq.html"))
    text = (await connector.fetch(faq, tmp_path)).read_text(encoding="utf-8")
    assert "Shinto shrine" in text and "Quick search" not in text
    assert len(site.requests("/crawl/faq.html")) == served + 1
    gone = faq.model_copy(update={"doc_id": "gone.html", "url": site.url("crawl/gone.html")})
    with pytest.raises(OSError, match="HTTP 404"):
        await connector.fetch(gone, tmp_path)


async def test_crawl_delay_spaces_requests_to_a_host_and_is_capped() -> None:
    pacer = Pacer()
    pacer.set_delay("h", 0.2)
    pacer.set_delay("slow", 3600)
    started = time.monotonic()
    await pacer.wait("h")
    await pacer.wait("other")
    await pacer.wait("h")
    assert 0.2 <= time.monotonic() - started < 1.0
    assert pacer.delays["slow"] == MAX_CRAWL_DELAY


@pytest.mark.parametrize(
    ("where", "sitemap", "message", "retryable"),
    [
        ("down", "", "cannot read http://127.0.0.1:.*/robots.txt .*cannot reach", True),
        ("broken", "", "robots.txt answered HTTP 500", True),
        ("nowhere/", "", "was not found \\(HTTP 404\\): check the source's start URL", False),
        ("private/", "", "is not public \\(HTTP 403\\): a web source reads pages anyone may read", False),
        ("crawl/extensions.html", "", "robots.txt of .* does not allow Lore", False),
        ("crawl/_static/jinja.css", "", "is not an HTML page", False),
        ("crawl/", "maps/none.xml", "cannot be used \\(HTTP 404\\): check the source's sitemap=", False),
        ("mapped/", "auto/sitemap.xml", "lists no page inside .*/mapped/", False),
    ],
)
async def test_a_listing_that_cannot_be_complete_fails_and_says_why(
    site: Site, tmp_path: Path, where: str, sitemap: str, message: str, retryable: bool
) -> None:
    url = {
        "down": f"http://127.0.0.1:{free_port()}/docs/",
        "broken": f"http://127.0.0.1:{site.broken_port}/docs/",
    }.get(where, site.url(where))
    connector = WebConnector(
        [url],
        ["public"],
        cache=FileCache(tmp_path / "cache"),
        sitemap=sitemap and site.url(sitemap),
        retries=0,
        guard=LOOPBACK,
    )
    with pytest.raises(ListingError, match=message) as caught:
        await listed(connector)
    assert caught.value.retryable is retryable
    assert not (tmp_path / "cache" / "web-pages.json").exists()


# ----- end to end: `/lore add web`, the arq worker, answers by access

ROADMAP = """<!DOCTYPE html><html><head><title>Release roadmap &#8212; Jinja internal</title></head><body>
<div class="related" role="navigation"><h3>Navigation</h3><a href="../index.html">Jinja</a></div>
<div class="body" role="main"><h1>Release roadmap</h1>
<p>The Zorblax release of Jinja is planned for the second week of March, after the security audit.</p>
</div>
<div class="footer" role="contentinfo">&#169; Copyright 2025 Pallets.</div></body></html>
"""
STAFF = Principal.of(groups=["staff"])
BUDGET = "page budget of 5 pages reached: raise max_pages to index more"
ZORBLAX = "When is the Zorblax release of Jinja planned?"


async def test_an_admin_adds_a_web_site_and_lore_answers_from_its_pages_by_access(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder, redis_url: str, tmp_path: Path
) -> None:
    docs = copy_docs(tmp_path / "www/docs", PAGES[:4])
    inject(docs / "index.html", '<p><a href="internal/roadmap.html">Release roadmap</a></p>')
    (docs / "internal").mkdir()
    (docs / "internal/roadmap.html").write_text(ROADMAP, encoding="utf-8")
    with nginx_site(tmp_path / "www", tmp_path / "nginx") as site:
        async with deployed(settings, slack, embedder, redis_url, tmp_path, max_tries=1) as lore:
            bot, kb, index, registry, context = lore.bot, lore.kb, lore.index, lore.registry, lore.context
            line = f"add web site {site.url('docs/')} access=public override=internal:group:staff max_pages=5"
            assert "Added *site*" in (await said(bot, line))["text"]
            await work(context, redis_url)
            record = await registry.get("site")
            assert record is not None and BUDGET in record.status.summary  # links to other pages were left
            assert set(await context.engine.state.documents("site")) == {
                "index", "intro.html", "faq.html", "license.html", "internal/roadmap.html"
            }  # fmt: skip
            answer = await kb.ask("What is a Jinja in Japan?", Principal.anonymous())
            assert "Shinto shrine" in answer.answer and answer.citations[0].doc_id == "faq.html"
            assert answer.citations[0].url == site.url("docs/faq.html")
            answer = await kb.ask(ZORBLAX, Principal.anonymous())
            assert "Zorblax" not in answer.answer and "March" not in answer.answer
            assert "internal/roadmap.html" not in {c.doc_id for c in answer.citations}
            answer = await kb.ask(ZORBLAX, STAFF)
            assert "March" in answer.answer and answer.citations[0].doc_id == "internal/roadmap.html"
            chunks = await index.document_chunks("site", "intro.html", ["public"])
            text = "\n".join(c.text for c in chunks)
            assert "Jinja is a fast, expressive, extensible templating engine." in text
            assert [w for w in NAVIGATION if w in text] == []

            embedded, served = embedder.texts_embedded, len(site.requests())
            intro = docs / "intro.html"
            intro.write_text(intro.read_text().replace("3.7 and newer", "3.12 and newer"), encoding="utf-8")
            os.utime(intro, (intro.stat().st_mtime + 60, intro.stat().st_mtime + 60))
            (docs / "license.html").unlink()
            await said(bot, "sync site")
            await work(context, redis_url)
            record = await registry.get("site")
            assert record is not None and record.status.ok is True
            assert (record.status.updated, record.status.unchanged, record.status.deleted) == (1, 3, 1)
            assert BUDGET not in record.status.summary  # the 4 pages left fit
            chunks = await index.document_chunks("site", "intro.html", ["public"])
            assert 0 < embedder.texts_embedded - embedded <= len(chunks)  # only intro.html (some cached)
            again = site.requests()[served:]
            unchanged = {"/docs/", "/docs/faq.html", "/docs/internal/roadmap.html"}
            assert unchanged <= {r.path for r in again if r.status == 304}  # not downloaded again
            read = [r.path for r in again if r.status == 200]  # intro.html once (fetch downloads nothing)
            assert read.count("/docs/intro.html") == 1 and unchanged.isdisjoint(read)
            answer = await kb.ask("Which Python versions does Jinja support?", Principal.anonymous())
            assert "3.12" in answer.answer
            assert "license.html" not in await context.engine.state.documents("site")
            assert "license.html" not in await docs_found(
                kb, "BSD-3-Clause License redistribution", ["public"]
            )

            chunks_before = await index.count("site")
            site.stop()  # the server is down: the listing fails, nothing is pruned
            await said(bot, "sync site")
            await work(context, redis_url)
            record = await registry.get("site")
            assert record is not None and record.status.ok is False
            assert "listing failed: cannot read http://127.0.0.1" in record.status.summary
            assert "check that the site is up" in record.status.summary
            assert await index.count("site") == chunks_before
            assert "faq.html" in await docs_found(kb, "Shinto shrine temple", ["public"])
