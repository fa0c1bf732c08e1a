"""Sources and remotes reach no loopback, link-local, unspecified or cloud metadata host unless the operator
allows it (LORE_ALLOWED_INTERNAL_HOSTS); private ranges stay allowed. Checked when a source is added, and at
connect time: a name resolving to a refused address, a redirect to one. A robots.txt or sitemap index on one
site does not make Lore fetch another site's sitemap."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from ingestion.connectors.base import ListingError
from ingestion.connectors.cache import FileCache
from ingestion.connectors.web import WebConnector
from ingestion.sync import SyncEngine
from ingestion.worker import WorkerContext, run_sync
from knowledge.hosts import GuardedConnector, HostGuard, RefusedHost
from knowledge.jobs import JobRequest
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import FileRegistry, Source
from tests.bounds_harness import admin_bot
from tests.recording_server import Handler, RecordingServer, json_reply, redirect
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, said

SETTING = "LORE_ALLOWED_INTERNAL_HOSTS"
PAGE = "<html><head><title>Guide</title></head><body><main><h1>Guide</h1><p>{}</p></main></body></html>"


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:8080/w/api.php", "loopback"),
        ("http://127.9.9.9/", "loopback"),
        ("http://localhost/", "this machine"),
        ("http://wiki.localhost./", "this machine"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as a number
        ("http://0.0.0.0:8080/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("https://wiki.example.com/w/api.php", None),
        ("http://10.1.2.3/", None),  # intranets live in the private ranges
        ("http://172.16.0.5:8090/wiki", None),
        ("http://192.168.1.10/", None),
        ("http://[fc00::5]/", None),
    ],
)
def test_the_host_rule(url: str, refused: str | None) -> None:
    why = HostGuard().url_refusal(url)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why and SETTING in why


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (["127.0.0.1"], "http://127.0.0.1:8080/"),
        (["127.0.0.0/8"], "http://127.0.0.7/"),
        (["localhost"], "http://localhost:3000/"),
        (["169.254.169.254"], "http://169.254.169.254/"),
        (["::1"], "http://[::1]/"),
    ],
)
def test_the_operator_allows_what_it_lists(allowed: list[str], url: str) -> None:
    assert HostGuard().url_refusal(url) is not None
    assert HostGuard(allowed).url_refusal(url) is None


@pytest.mark.parametrize("allowed", [[], ["127.0.0.1"]])
async def test_an_admin_cannot_add_a_source_on_this_machine_from_slack(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, allowed: list[str]
) -> None:
    line = "add mediawiki wiki http://127.0.0.1:8080/w/api.php access=public"
    async with admin_bot(loaded_kb, settings, slack, allowed_internal_hosts=allowed) as lore:
        reply = await said(lore, CARL_ADMIN, line)
        await lore.done()
        added = [r.source.id for r in await lore.registry.all()]
    if allowed:  # the operator allowed it
        assert "Added *wiki*" in reply and added == ["wiki"]
    else:
        assert "is a loopback address" in reply and SETTING in reply
        assert added == [] and lore.worker.synced == []


def test_a_sitemap_option_is_held_to_the_rule_too(settings: Settings) -> None:
    site = Source(
        id="site",
        kind="web",
        location=["https://docs.example.com/guide/"],
        access=["public"],
        options={"sitemap": "http://169.254.169.254/latest/meta-data/"},
    )
    assert "metadata" in refusals(site, settings)["sitemap"]


@pytest.mark.parametrize("kb", ["server"], indirect=True)
async def test_without_the_setting_a_source_on_loopback_is_refused_with_a_clear_status(
    settings: Settings, engine: SyncEngine, tmp_path: Path
) -> None:
    async with RecordingServer() as wiki:
        source = Source(id="wiki", kind="mediawiki", location=[wiki.url("/api.php")], access=["public"])
        registry = FileRegistry(tmp_path / "sources.json")
        await registry.put(source)
        strict = settings.model_copy(update={"allowed_internal_hosts": []})
        context = WorkerContext(settings=strict, engine=engine, registry=registry, notify=_quiet)
        await run_sync(context, JobRequest(source_id="wiki"))
        record = await registry.get("wiki")
        assert record is not None and record.status.ok is False
        assert "is a loopback address" in record.status.summary and SETTING in record.status.summary
        assert wiki.seen == []  # not even asked
        allowed = WorkerContext(settings=settings, engine=engine, registry=registry, notify=_quiet)
        await run_sync(allowed, JobRequest(source_id="wiki"))
        assert wiki.seen  # the same source, allowed: Lore asks the wiki


async def _quiet(user_id: str | None, text: str) -> None:
    return None


class Rebound(AbstractResolver):
    """DNS as an attacker who owns `intranet.example` serves it: the name points at this machine."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        assert host == "intranet.example"
        return [
            {
                "hostname": host,
                "host": "127.0.0.2",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("allowed", "reached"), [([], False), (["127.0.0.2"], True), (["intranet.example"], True)]
)
async def test_a_name_that_resolves_to_a_refused_address_is_refused(
    allowed: list[str], reached: bool
) -> None:
    async with RecordingServer("127.0.0.2") as inside:
        inside.route("/", json_reply({"secret": "instance credentials"}))
        connector = GuardedConnector(HostGuard(allowed), resolver=Rebound())  # aiohttp's DNS seam
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                async with session.get(f"http://intranet.example:{inside.port}/") as response:
                    status = response.status
            except RefusedHost as exc:
                status = 0
                assert "resolved to 127.0.0.2" in str(exc) and SETTING in str(exc)
    assert (status == 200) is reached and bool(inside.seen) is reached


def _web(start: str, allowed: list[str], tmp_path: Path) -> WebConnector:
    return WebConnector(
        [start], ["public"], cache=FileCache(tmp_path / "cache"), retries=0, guard=HostGuard(allowed)
    )


@pytest.mark.parametrize(("allowed", "reached"), [(["127.0.0.1"], False), (["127.0.0.1", "127.0.0.2"], True)])
async def test_a_redirect_to_a_refused_address_is_refused(
    allowed: list[str], reached: bool, tmp_path: Path
) -> None:
    async with RecordingServer("127.0.0.1") as site, RecordingServer("127.0.0.2") as inside:
        site.route("/docs/", redirect(inside.url("/docs/")))
        with pytest.raises(ListingError) as failed:
            [ref async for ref in _web(site.url("/docs/"), allowed, tmp_path).list_documents()]
    assert bool(inside.seen) is reached
    if not reached:
        assert "is a loopback address" in str(failed.value) and failed.value.retryable is False


async def test_sitemaps_named_for_another_site_are_not_fetched(tmp_path: Path) -> None:
    async with RecordingServer("127.0.0.1") as site, RecordingServer("127.0.0.2") as other:
        index = f"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <sitemap><loc>{other.url("/nested.xml")}</loc></sitemap>
            <sitemap><loc>{site.url("/pages.xml")}</loc></sitemap></sitemapindex>"""
        pages = f"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc>{site.url("/docs/guide.html")}</loc></url>
            <url><loc>{other.url("/docs/guide.html")}</loc></url></urlset>"""
        robots = f"Sitemap: {other.url('/sitemap.xml')}\nSitemap: {site.url('/index.xml')}\n"
        site.route("/robots.txt", _text(robots, "text/plain"))
        site.route("/index.xml", _text(index, "application/xml"))
        site.route("/pages.xml", _text(pages, "application/xml"))
        site.route("/docs/guide.html", _text(PAGE.format("Deploys happen on Tuesdays."), "text/html"))
        connector = _web(site.url("/docs/"), ["127.0.0.1", "127.0.0.2"], tmp_path)
        refs = [ref async for ref in connector.list_documents()]
    assert [r.doc_id for r in refs] == ["guide.html"]
    assert {"/index.xml", "/pages.xml"} <= {s.path for s in site.seen}  # this site's own sitemaps: read
    assert other.seen == []  # robots.txt's and the index's sitemap on another site: not fetched


def _text(body: str, content_type: str) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type=content_type)

    return answer
