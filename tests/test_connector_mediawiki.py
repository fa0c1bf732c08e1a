"""The MediaWiki connector against a real MediaWiki (Debian's 1.39, SQLite, PHP's built-in server) on
loopback, started once for this module (tests/mediawiki_server.py): listings of chosen namespaces, the
incremental path through recentchanges against a full walk, rendered pages with their headings, access per
namespace, bot-password sign-in on a private twin of the wiki, failures; then a wiki added with `/lore add`
and kept in sync by the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.cache import FileCache, cache_dir
from ingestion.connectors.mediawiki import CACHE_FILE, MediaWikiConnector, Snapshot
from ingestion.connectors.registry import connector_for
from ingestion.parse_pool import parse_and_chunk
from knowledge.access import Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Credentials, Source
from tests.conftest import free_port
from tests.mediawiki_server import BOT_PASSWORD, BOT_USER, SITENAME, Wiki, running_wiki
from tests.slack_standin import SlackStandin
from tests.sources_harness import deployed, docs_found, said, work

PAGES = {
    "Holidays": "How time off works at Example.\n\n== Leave ==\nEveryone gets 25 days of paid holiday per "
    "year, booked in Workday.\n\n=== Carry over ===\nUp to five unused days move to the next year.\n",
    "Project:Server room": "The server room door code is 4711. Only staff may enter.\n",
    "User:Admin": "Personal notes about quarterly planning.\n",  # namespace 2: not chosen
    "Time off": "#REDIRECT [[Holidays]]\n",  # a redirect is not a document
}
PASSWORD_ENV = "LORE_SECRET_TEST_WIKI_PASSWORD"


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wiki]:
    with running_wiki(tmp_path_factory.mktemp("mediawiki")) as running:
        asyncio.run(running.write(PAGES))
        yield running


def wiki_source(api: str, **update: object) -> Source:
    source = Source(
        id="wiki",
        kind="mediawiki",
        location=[api],
        access=["public"],
        overrides={"4": ["group:staff"]},
        options={"namespaces": "0,4"},
    )
    return source.model_copy(update=update)


def connector(wiki: Wiki, settings: Settings, **update: object) -> MediaWikiConnector:
    made = connector_for(wiki_source(wiki.api, **update), settings)
    assert isinstance(made, MediaWikiConnector)
    return made


async def listing(made: MediaWikiConnector) -> dict[str, DocumentRef]:
    return {ref.title: ref async for ref in made.list_documents()}


async def test_the_content_pages_of_the_chosen_namespaces_are_listed(wiki: Wiki, settings: Settings) -> None:
    refs = await listing(connector(wiki, settings))
    assert {"Main Page", "Holidays", f"{SITENAME}:Server room"} <= set(refs)
    assert "User:Admin" not in refs and "Time off" not in refs
    holidays = refs["Holidays"]
    assert holidays.doc_id == f"page/{await wiki.page_id('Holidays')}"
    assert holidays.url == wiki.url("Holidays")
    assert holidays.acl == ["public"] and holidays.updated_at.tzinfo is not None


@pytest.mark.parametrize("key", ["4", "Project", SITENAME.lower()])
async def test_a_namespace_override_gives_its_pages_their_access(
    wiki: Wiki, settings: Settings, key: str
) -> None:
    refs = await listing(connector(wiki, settings, overrides={key: ["group:staff"]}))
    assert refs[f"{SITENAME}:Server room"].acl == ["group:staff"]
    assert refs["Holidays"].acl == ["public"]


@pytest.mark.parametrize(
    ("update", "said"),
    [
        ({"overrides": {"Projetc": ["group:staff"]}}, "names no namespace"),
        ({"options": {"namespaces": "0,99"}}, "namespace 99 does not exist"),
    ],
)
async def test_a_wrong_namespace_stops_the_listing(
    wiki: Wiki, settings: Settings, update: dict[str, object], said: str
) -> None:
    with pytest.raises(ListingError, match=said) as failed:
        await listing(connector(wiki, settings, **update))
    assert not failed.value.retryable


async def test_a_page_is_fetched_as_rendered_html_with_its_headings(
    wiki: Wiki, settings: Settings, tmp_path: Path
) -> None:
    made = connector(wiki, settings)
    ref = (await listing(made))["Holidays"]
    path = await made.fetch(ref, tmp_path)
    assert path.suffix == ".html" and "<h1>Holidays</h1>" in path.read_text(encoding="utf-8")
    parsed = await asyncio.to_thread(parse_and_chunk, str(path), 1_000_000, 24, 0)
    paths = {tuple(d.heading_path): d.text for d in parsed.drafts}
    assert parsed.title == "Holidays"
    assert "25 days" in paths[("Holidays", "Leave")]
    assert "five unused days" in paths[("Holidays", "Leave", "Carry over")]
    assert "edit" not in path.read_text(encoding="utf-8").lower()  # no [edit] links


async def test_changes_are_read_from_recentchanges_and_match_a_full_listing(
    wiki: Wiki, settings: Settings, tmp_path: Path
) -> None:
    await wiki.write(
        {
            "Rc edited": "Version one of the edited page.",
            "Rc kept": "A page nobody touches.",
            "Rc moved": "A page that gets a new name.",
            "Rc deleted": "A page that goes away.",
            "Rc restored": "A page deleted by mistake, then restored.",
            "Rc leaving": "A page moved out to a user page.",
            "User:Rc arriving": "A user page moved into the main namespace.",
        }
    )
    first = connector(wiki, settings)
    before = await listing(first)
    assert (first.full_listings, first.incremental_listings) == (1, 0)

    await wiki.write({"Rc edited": "Version two of the edited page.", "Rc new": "A page created later."})
    await wiki.move("Rc moved", "Rc renamed")
    await wiki.delete("Rc deleted", "Rc restored")
    await wiki.undelete("Rc restored")
    await wiki.move("Rc leaving", "User:Rc left")
    await wiki.move("User:Rc arriving", "Rc arrived")
    walks = wiki.requests("generator=allpages")

    second = connector(wiki, settings)  # a new sync: same cache
    after = await listing(second)
    assert (second.full_listings, second.incremental_listings) == (0, 1)
    assert wiki.requests("generator=allpages") == walks

    fresh = connector(wiki, settings.model_copy(update={"data_dir": tmp_path / "other"}))
    assert await listing(fresh) == after and fresh.full_listings == 1
    assert {"Rc new", "Rc renamed", "Rc arrived", "Rc restored"} <= set(after)
    assert not {"Rc moved", "Rc deleted", "Rc leaving", "User:Rc left"} & set(after)
    assert after["Rc renamed"].doc_id == before["Rc moved"].doc_id
    assert after["Rc renamed"].url == wiki.url("Rc renamed")
    assert after["Rc edited"].version != before["Rc edited"].version
    assert after["Rc kept"] == before["Rc kept"]


async def test_a_cache_older_than_a_day_means_a_full_listing(wiki: Wiki, settings: Settings) -> None:
    await listing(connector(wiki, settings))
    path = cache_dir(wiki_source(wiki.api), settings) / CACHE_FILE
    snapshot = Snapshot.model_validate_json(path.read_text(encoding="utf-8"))
    aged = snapshot.model_copy(update={"listed_at": snapshot.listed_at - timedelta(days=2)})
    path.write_text(aged.model_dump_json(), encoding="utf-8")
    again = connector(wiki, settings)
    await listing(again)
    assert (again.full_listings, again.incremental_listings) == (1, 0)


async def test_a_bot_password_reads_a_private_wiki(
    wiki: Wiki, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ListingError, match="only signed-in users") as refused:
        await listing(connector(wiki, settings, location=[wiki.private_api]))
    assert not refused.value.retryable

    monkeypatch.setenv(PASSWORD_ENV, BOT_PASSWORD)
    signed = {"location": [wiki.private_api], "credentials": Credentials(env=PASSWORD_ENV)}
    made = connector(wiki, settings, options={"namespaces": "0,4", "user": BOT_USER}, **signed)
    ref = (await listing(made))["Holidays"]
    assert "25 days" in (await made.fetch(ref, tmp_path)).read_text(encoding="utf-8")

    monkeypatch.setenv(PASSWORD_ENV, "wrong0password0wrong0password000")
    wrong = connector(wiki, settings, options={"namespaces": "0,4", "user": BOT_USER}, **signed)
    with pytest.raises(ListingError, match="refused the bot password of Admin@lore") as failed:
        await listing(wrong)
    assert not failed.value.retryable and "wrong0password" not in str(failed.value)


async def test_a_failed_listing_leaves_the_cache_as_it_was(wiki: Wiki, settings: Settings) -> None:
    await listing(connector(wiki, settings))
    path = cache_dir(wiki_source(wiki.api), settings) / CACHE_FILE
    cached = path.read_bytes()
    down = f"http://127.0.0.1:{free_port()}/api.php"
    dead = MediaWikiConnector(
        down,
        access=["public"],
        cache=FileCache(path.parent),
        max_bytes=1_000_000,
        retries=0,
        guard=HostGuard(["127.0.0.1"]),
    )
    with pytest.raises(ListingError, match="cannot reach the wiki") as failed:
        await listing(dead)
    assert failed.value.retryable and path.read_bytes() == cached


TRAVEL = (
    "Hotels are reimbursed up to 200 euros a night. Book them through the travel desk at least a week "
    "ahead, keep the invoice, and attach it to the expense report in Workday within thirty days of the trip. "
    "Trains are preferred over flights for trips under five hours; flights are booked in economy class. "
)
MEALS = (
    "Meals on business trips are reimbursed up to 75 euros a day, drinks included. Client dinners need the "
    "approval of a director beforehand and the names of every guest on the receipt. Breakfast included in "
    "a hotel rate is not reimbursed a second time. "
)
E2E_PAGES = {
    "Expenses policy": f"How expenses work.\n\n== Travel ==\n{TRAVEL * 4}\n\n== Meals ==\n{MEALS * 4}\n",
    "Parking": "Staff parking is in the basement garage, level minus two.\n",
    "Booking trains": "Train tickets are booked through the Zorbtravel portal.\n",
    "Project:Door codes": "The archive door code is 9182.\n",
}


async def test_an_admin_adds_a_wiki_and_the_worker_keeps_it_in_sync(
    wiki: Wiki,
    settings: Settings,
    slack: SlackStandin,
    embedder: CachedEmbedder,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await wiki.write(E2E_PAGES)
    ids = {title: f"page/{await wiki.page_id(title)}" for title in E2E_PAGES}
    doors = ids["Project:Door codes"]
    staff = Principal.of(groups=["staff"])
    async with deployed(settings, slack, embedder, redis_url, tmp_path) as lore:
        bot, kb, index, registry, context = lore.bot, lore.kb, lore.index, lore.registry, lore.context
        line = f"add mediawiki wiki {wiki.api} access=public namespaces=0,4 override=4:group:staff"
        assert "Added *wiki*" in (await said(bot, line))["text"]
        await work(context, redis_url)
        question = "What is the archive door code?"
        anonymous = await kb.ask(question, Principal.anonymous())
        assert "9182" not in anonymous.answer and doors not in {c.doc_id for c in anonymous.citations}
        assert all("9182" not in c.snippet for c in anonymous.citations)
        answer = await kb.ask(question, staff)
        assert "9182" in answer.answer and answer.citations[0].doc_id == doors
        assert answer.citations[0].url == wiki.url(f"{SITENAME}:Door codes")
        chunks = await index.document_chunks("wiki", ids["Expenses policy"], ["public"])
        assert ["Expenses policy", "Travel"] in [c.heading_path for c in chunks]
        assert {c.url for c in chunks} == {wiki.url("Expenses policy")}

        await wiki.write({"Expenses policy": E2E_PAGES["Expenses policy"].replace("200", "240")})
        await wiki.delete("Parking")
        await wiki.move("Booking trains", "Train travel")
        walks, parses = wiki.requests("generator=allpages"), wiki.requests("action=parse")
        await said(bot, "sync wiki")
        await work(context, redis_url)
        assert wiki.requests("generator=allpages") == walks  # brought up to date from recentchanges
        assert wiki.requests("action=parse") - parses == 2  # only the edited and the moved page
        synced = await registry.get("wiki")
        assert synced is not None and (synced.status.updated, synced.status.deleted) == (2, 1)
        answer = await kb.ask("Up to how much are hotels reimbursed a night?", Principal.anonymous())
        assert "240 euros" in answer.answer
        assert ids["Parking"] not in await docs_found(kb, "basement garage parking", ["public"])
        trains = await kb.retriever.search("Zorbtravel train tickets", ["public"], k=10)
        moved = [h.chunk for h in trains if h.chunk.doc_id == ids["Booking trains"]]
        assert moved and {(c.title, c.url) for c in moved} == {("Train travel", wiki.url("Train travel"))}
        assert "Booking trains" not in {h.chunk.title for h in trains}

        chunks_before = await index.count("wiki")
        monkeypatch.setenv(PASSWORD_ENV, "wrong0password0wrong0password000")
        record = await registry.get("wiki")
        assert record is not None
        options = {**record.source.options, "user": BOT_USER}
        wrong = {"options": options, "credentials": Credentials(env=PASSWORD_ENV)}
        await registry.put(record.source.model_copy(update=wrong))
        await said(bot, "sync wiki")
        await work(context, redis_url)
        failed = await registry.get("wiki")
        assert failed is not None and failed.status.ok is False
        assert "refused the bot password" in failed.status.summary
        assert await index.count("wiki") == chunks_before
        assert await docs_found(kb, "door code", ["public", "group:staff"]) >= {doors}
