"""The Confluence connector against a stand-in replaying Atlassian's documented REST v1 payloads: spaces,
pagination, attachments, access (space permissions, inherited restrictions), Cloud and Data Center sign-in,
rate limits, the incremental listing, failures; and end to end through `/lore add` and the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.cache import FileCache, cache_dir
from ingestion.connectors.confluence import CACHE_FILE, ConfluenceConnector
from ingestion.connectors.confluence_access import combine, group_access, user_access
from ingestion.connectors.confluence_api import User
from ingestion.connectors.http import Http
from ingestion.connectors.registry import connector_for
from knowledge.access import Directory, Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Credentials, Source
from tests.confluence_standin import ConfluenceStandin, standin_thread
from tests.conftest import free_port
from tests.slack_standin import SlackStandin
from tests.sources_harness import deployed, docs_found, said, work

TOKEN_ENV = "LORE_SECRET_CONFLUENCE_TOKEN"
BOB = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"  # a Cloud account whose email is hidden
ENG_VIEWERS = ["group:confluence-administrators", "group:confluence-users", "group:engineering"]
PAGES = {"ENG/1001", "ENG/1002", "ENG/1003", "ENG/1004", "ENG/1005", "HR/2001", "HR/2002"}
ATTACHED = {"ENG/1002/attachments/att5001", "ENG/1002/attachments/att5003", "ENG/1004/attachments/att5004"}
LISTED = PAGES | ATTACHED  # topology.png, attached to 1002 too, is not a format Lore reads


@pytest.fixture(scope="module")
def served() -> Iterator[ConfluenceStandin]:
    with standin_thread(max_limit=2) as site:
        yield site


@pytest.fixture
def site(served: ConfluenceStandin, monkeypatch: pytest.MonkeyPatch) -> ConfluenceStandin:
    """The recorded Cloud site, as recorded; Lore's token in the environment."""
    served.reset()
    monkeypatch.setenv(TOKEN_ENV, "t0ken")
    return served


def confluence_source(
    site: ConfluenceStandin, *, spaces: str | None = "ENG,HR", cloud: bool = True
) -> Source:
    options = {"spaces": spaces} if spaces else {}
    if cloud:
        options["user"] = "bot@example.com"
    secret = Credentials(env=TOKEN_ENV)
    return Source(
        id="wiki", kind="confluence", location=[site.base_url], access=[], options=options, credentials=secret
    )


def connector(
    site: ConfluenceStandin, settings: Settings, *, spaces: str | None = "ENG,HR", cloud: bool = True
) -> ConfluenceConnector:
    built = connector_for(confluence_source(site, spaces=spaces, cloud=cloud), settings)
    assert isinstance(built, ConfluenceConnector)
    return built


async def listing(built: ConfluenceConnector) -> dict[str, DocumentRef]:
    return {ref.doc_id: ref async for ref in built.list_documents()}


def with_directory(settings: Settings, tmp_path: Path, accounts: dict[str, list[str]]) -> Settings:
    path = tmp_path / "directory.yaml"
    path.write_text(json.dumps({"accounts": accounts}), encoding="utf-8")
    return settings.model_copy(update={"directory_file": path})


# ----- listing


async def test_the_listing_follows_pagination_keeps_the_chosen_spaces_and_core_formats(
    site: ConfluenceStandin, settings: Settings
) -> None:
    built = connector(site, settings)
    refs = await listing(built)
    assert set(refs) == LISTED
    assert site.count("/rest/api/content") - site.count("/rest/api/content/") == 3 + 1  # 5 ENG pages, 2 HR
    page, attachment = refs["ENG/1002"], refs["ENG/1002/attachments/att5001"]
    assert (page.version, page.title) == ("7", "Deploy Runbook")
    assert page.url == f"{site.base_url}/spaces/ENG/pages/1002/Deploy+Runbook"
    assert page.updated_at == datetime(2024, 5, 2, 9, 15, 31, 523000, tzinfo=UTC)
    assert (attachment.version, attachment.size) == ("2", 195)
    assert attachment.title == "Deploy Runbook / deploy-checklist.md"
    assert built.notes == ["1 attachment skipped (not a format Lore reads)"]


async def test_without_spaces_every_space_whose_viewers_lore_sees_is_listed(
    site: ConfluenceStandin, settings: Settings
) -> None:
    refs = await listing(connector(site, settings, spaces=None))
    assert set(refs) == LISTED | {"TEAM/3001"}
    assert refs["TEAM/3001"].acl == ["group:confluence-administrators", "group:staff"]
    site.spaces["TEAM"]["permissions"] = []  # what an account without the space's Admin permission sees
    built = connector(site, settings, spaces=None)
    assert set(await listing(built)) == LISTED
    assert "cannot see who may view them: TEAM" in built.notes[0]


async def test_a_space_the_account_cannot_read_fails_the_listing(
    site: ConfluenceStandin, settings: Settings
) -> None:
    with pytest.raises(ListingError, match="no space NOPE") as failed:
        await listing(connector(site, settings, spaces="ENG,NOPE"))
    assert failed.value.retryable is False


# ----- access


NO_DIRECTORY = {
    "ENG/1001": [*ENG_VIEWERS, "user:ana@example.com"],
    "ENG/1002/attachments/att5001": [*ENG_VIEWERS, "user:ana@example.com"],  # the page's acl
    "ENG/1003": ["user:ana@example.com"],  # restricted to sre and Ana; sre is not among the space's viewers
    "ENG/1004": ["user:ana@example.com"],  # inherits the restriction of its parent 1003
    "ENG/1005": [],  # restricted to Bob, whose email is hidden and who is not in the directory
    "HR/2001": ["public"],  # anonymous access to the space
    "HR/2002": ["group:hr-leads"],
}
MAPPED = {
    "ENG/1001": ["public"],  # confluence-users is everyone
    "ENG/1003": ["group:site-reliability", "user:ana@example.com"],  # sre is called site-reliability here
    "ENG/1004": ["group:site-reliability", "user:ana@example.com"],
    "ENG/1004/attachments/att5004": ["group:site-reliability", "user:ana@example.com"],
    "ENG/1005": ["user:bob@example.com"],  # Bob by his accountId
}
DIRECTORY = {"confluence-users": ["public"], "sre": ["group:site-reliability"], BOB: ["user:bob@example.com"]}


@pytest.mark.parametrize(("accounts", "expected"), [({}, NO_DIRECTORY), (DIRECTORY, MAPPED)])
async def test_space_permissions_and_page_restrictions_make_the_acl(
    site: ConfluenceStandin,
    settings: Settings,
    tmp_path: Path,
    accounts: dict[str, list[str]],
    expected: dict[str, list[str]],
) -> None:
    refs = await listing(connector(site, with_directory(settings, tmp_path, accounts)))
    assert {doc_id: refs[doc_id].acl for doc_id in expected} == expected


@pytest.mark.parametrize(
    ("layers", "acl"),
    [
        ([], ["public"]),
        ([{"public"}, {"group:a", "user:x@example.com"}], ["group:a", "user:x@example.com"]),
        ([{"group:a", "group:b"}, {"group:b", "user:x@example.com"}], ["group:b"]),
        ([{"group:staff"}, {"user:ana@example.com", "user:bob@example.com"}], ["user:ana@example.com"]),
        ([{"group:a"}, set()], []),
    ],
)
def test_an_acl_keeps_what_every_layer_allows(layers: list[set[str]], acl: list[str]) -> None:
    staff = Directory(groups={"staff": ["ana@example.com"]})  # Ana is in staff, Bob is not
    assert combine([frozenset(layer) for layer in layers], staff) == acl


def test_accounts_map_by_email_then_directory_else_to_nothing() -> None:
    directory = Directory(accounts={BOB: ["user:bob@example.com"], "Finance Team": ["group:finance"]})
    assert user_access(User(email="Ana@Example.com", accountId="x"), directory) == ["user:ana@example.com"]
    assert user_access(User(accountId=BOB), directory) == ["user:bob@example.com"]
    assert user_access(User(accountId="557058:someone-else"), directory) == []
    assert group_access("Finance Team", directory) == ["group:finance"]
    assert group_access("SRE", directory) == ["group:sre"]
    assert group_access("Ops (EU)!", directory) == []  # not writable as an access string: grants nothing


# ----- signing in, rate limits, failures


@pytest.mark.parametrize(("flavour", "header"), [("cloud", "Basic "), ("dc", "Bearer t0ken")])
async def test_cloud_signs_in_with_basic_auth_and_data_center_with_a_bearer_token(
    site: ConfluenceStandin, settings: Settings, flavour: str, header: str
) -> None:
    cloud = flavour == "cloud"
    site.reset(flavour, user="bot@example.com" if cloud else None)
    refs = await listing(connector(site, settings, cloud=cloud))
    assert set(refs) == LISTED and {s.status for s in site.seen} == {200}
    assert all(s.authorization.startswith(header) for s in site.seen)
    # Data Center's space permissions name users by username: unmapped, they grant nothing
    assert refs["ENG/1001"].acl == ([*ENG_VIEWERS, "user:ana@example.com"] if cloud else ENG_VIEWERS)
    assert refs["HR/2001"].acl == ["public"]
    assert (site.count("/permissions") > 0) == (not cloud)


async def test_cloud_space_permissions_left_out_of_the_space_list_are_asked_of_each_space(
    site: ConfluenceStandin, settings: Settings
) -> None:
    site.list_expands_permissions = False
    refs = await listing(connector(site, settings))
    assert site.count("/rest/api/space/ENG") == 1 and site.count("/rest/api/space/HR") == 1
    assert refs["ENG/1001"].acl == [*ENG_VIEWERS, "user:ana@example.com"]
    assert refs["HR/2001"].acl == ["public"]


@pytest.mark.parametrize(
    ("flavour", "said"), [("cloud", "Admin permission"), ("dc", r"Data Center 9\.1 or later")]
)
async def test_a_named_space_whose_viewers_are_hidden_fails_the_listing(
    site: ConfluenceStandin, settings: Settings, flavour: str, said: str
) -> None:
    site.reset(flavour, user="bot@example.com" if flavour == "cloud" else None)
    site.spaces["ENG"]["permissions"] = []  # what an account without the space's Admin permission sees
    site.dc_permissions_available = False  # Data Center before 9.1
    with pytest.raises(ListingError, match=said) as failed:
        await listing(connector(site, settings, cloud=flavour == "cloud"))
    assert failed.value.retryable is False


async def test_a_rate_limit_is_waited_out(site: ConfluenceStandin, settings: Settings) -> None:
    site.throttle(1)
    started = time.monotonic()
    refs = await listing(connector(site, settings))
    assert time.monotonic() - started >= 1.0 and set(refs) == LISTED
    assert [s.status for s in site.seen[:2]] == [429, 200]


@pytest.mark.parametrize("cloud", [True, False])
async def test_a_refused_token_fails_the_listing_and_says_how_to_sign_in(
    site: ConfluenceStandin, settings: Settings, monkeypatch: pytest.MonkeyPatch, cloud: bool
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    with pytest.raises(ListingError, match="refused") as failed:
        await listing(connector(site, settings, cloud=cloud))
    assert failed.value.retryable is False
    assert ("API token" if cloud else "personal access token") in str(failed.value)


async def test_a_site_that_is_down_fails_the_listing(settings: Settings, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/wiki"
    secret = {"Authorization": "Bearer x"}
    down = ConfluenceConnector(
        url,
        http=Http(credentials=secret, home=url, guard=HostGuard(["127.0.0.1"]), retries=0, what="Confluence"),
        directory=Directory(),
        cache=FileCache(tmp_path),
        max_bytes=1_000_000,
    )
    with pytest.raises(ListingError, match="cannot reach Confluence") as failed:
        await listing(down)
    assert failed.value.retryable is True


async def test_a_page_deleted_during_the_listing_fails_it_for_a_retry(
    site: ConfluenceStandin, settings: Settings
) -> None:
    site.gone.add("1004")
    with pytest.raises(ListingError, match="page 1004 was deleted while Lore listed it") as failed:
        await listing(connector(site, settings))
    assert failed.value.retryable is True


# ----- the incremental listing


async def test_the_next_listing_asks_only_for_what_changed_and_agrees_with_a_full_one(
    site: ConfluenceStandin, settings: Settings
) -> None:
    first = connector(site, settings)
    await listing(first)
    assert first.incremental == [] and site.count("/child/attachment") > 5
    site.edit("1002", "<p>Deploys go out on Mondays.</p>")
    site.delete("1005")
    site.restrict("1001", ["engineering"])  # no new version: only the lighter listing sees it
    site.seen.clear()
    second = connector(site, settings)
    changed = await listing(second)
    assert second.incremental == ["ENG", "HR"]
    assert site.count("/content/search") == 2 and site.count("/child/attachment") == 2  # 1002's, 2 pages
    assert changed["ENG/1002"].version == "8" and "ENG/1005" not in changed
    assert changed["ENG/1001"].acl == ["group:engineering"]
    site.seen.clear()
    assert await listing(connector(site, settings)) == changed  # 1002 is still recent, but known
    assert site.count("/child/attachment") == 0

    (cache_dir(confluence_source(site), settings) / CACHE_FILE).unlink()
    full = connector(site, settings)
    assert await listing(full) == changed and full.incremental == []


async def test_a_listing_older_than_a_day_is_not_built_on(
    site: ConfluenceStandin, settings: Settings
) -> None:
    await listing(connector(site, settings))
    cached = cache_dir(confluence_source(site), settings) / CACHE_FILE
    snapshot = json.loads(cached.read_text(encoding="utf-8"))
    snapshot["taken_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    cached.write_text(json.dumps(snapshot), encoding="utf-8")
    again = connector(site, settings)
    await listing(again)
    assert again.incremental == []


# ----- fetching


async def test_fetch_writes_the_page_as_html_and_downloads_attachments(
    site: ConfluenceStandin, settings: Settings, tmp_path: Path
) -> None:
    built = connector(site, settings)
    refs = await listing(built)
    page = (await built.fetch(refs["ENG/1002"], tmp_path)).read_text(encoding="utf-8")
    assert "<title>Deploy Runbook</title>" in page and "<h1>Deploy Runbook</h1>" in page
    assert "<h2>Before you deploy</h2>" in page and "<h3>Rollback</h3>" in page  # demoted under the title
    rota = await built.fetch(refs["ENG/1002/attachments/att5003"], tmp_path)
    assert rota.suffix == ".csv" and rota.read_text(encoding="utf-8").startswith("week,primary")
    built.max_bytes = 100
    with pytest.raises(ValueError, match="file too large"):
        await built.fetch(refs["ENG/1002/attachments/att5001"], tmp_path)
    site.delete("1003")
    with pytest.raises(OSError, match="404"):
        await built.fetch(refs["ENG/1003"], tmp_path)


# ----- end to end


async def test_an_admin_adds_a_confluence_site_and_the_worker_keeps_it_in_sync(
    site: ConfluenceStandin,
    settings: Settings,
    slack: SlackStandin,
    embedder: CachedEmbedder,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mapped = with_directory(settings, tmp_path, {"confluence-users": ["public"]})
    sre = Principal.of(groups=["sre"])
    async with deployed(mapped, slack, embedder, redis_url, tmp_path) as lore:
        bot, kb, index, registry, context = lore.bot, lore.kb, lore.index, lore.registry, lore.context
        line = f"add confluence wiki {site.base_url} user=bot@example.com credentials={TOKEN_ENV} spaces=ENG"
        assert "Added *wiki*" in (await said(bot, line))["text"]
        await work(context, redis_url)
        question = "What caused the Wombat outage?"
        anonymous = await kb.ask(question, Principal.anonymous())
        assert "TLS" not in anonymous.answer and "ENG/1003" not in {c.doc_id for c in anonymous.citations}
        assert all("TLS" not in c.snippet for c in anonymous.citations)
        answer = await kb.ask(question, sre)
        assert "expired TLS certificate" in answer.answer and answer.citations[0].doc_id == "ENG/1003"
        assert answer.citations[0].url == f"{site.base_url}/spaces/ENG/pages/1003/Incident+Reviews"
        assert "ENG/1002/attachments/att5001" in await docs_found(
            kb, "canary error budget dashboard", ["public"]
        )
        failover = {"ENG/1004", "ENG/1004/attachments/att5004"}
        assert failover <= await docs_found(kb, "Pelican switch failover", ["public", "group:sre"])

        site.edit("1002", "<p>Deploys go out on Mondays through the Platypus pipeline.</p>")
        site.delete("1004")
        await said(bot, "sync wiki")
        await work(context, redis_url)
        synced = await registry.get("wiki")
        assert synced is not None and (synced.status.updated, synced.status.deleted) == (1, 2)
        answer = await kb.ask("Which pipeline do deploys go out through?", Principal.anonymous())
        assert "Platypus" in answer.answer and answer.citations[0].doc_id == "ENG/1002"
        assert not failover & await docs_found(kb, "Pelican switch failover", ["public", "group:sre"])

        chunks = await index.count("wiki")
        monkeypatch.setenv(TOKEN_ENV, "revoked")
        await said(bot, "sync wiki")
        await work(context, redis_url)
        failed = await registry.get("wiki")
        assert failed is not None and failed.status.ok is False
        assert "refused Lore's credentials" in failed.status.summary and "API token" in failed.status.summary
        assert await index.count("wiki") == chunks
