"""A source's secret goes to its own origin only (scheme, host and port): two loopback servers, the first
(the source's) redirecting or linking to the second, which must never receive the password, the sign-in
cookie, the Authorization header or the API key. Each test checks that the first one did receive it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from ingestion.connectors.base import ListingError
from ingestion.connectors.registry import connector_for
from knowledge.access import Principal
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.settings import Settings
from knowledge.sources import Credentials, FileRegistry, Source
from tests.recording_server import Handler, RecordingServer, json_reply, redirect

PASSWORD = "bot-pa55word-do-not-leak"
TOKEN = "api-t0ken-do-not-leak"
SIGNED_IN = "wikiSession=SIGNEDIN"


@pytest.fixture(params=["127.0.0.1", "127.0.0.2"], ids=["same-host-other-port", "other-host"])
async def servers(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RecordingServer, RecordingServer]]:
    """The source's server and another one: on another port of the same host (aiohttp's own cookie jar
    would send cookies there), or on another host."""
    async with RecordingServer("127.0.0.1") as home, RecordingServer(request.param) as other:
        yield home, other


@pytest.fixture
def loopback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LORE_SECRET_WIKI", PASSWORD)
    monkeypatch.setenv("LORE_SECRET_CONFLUENCE", TOKEN)
    return settings.model_copy(update={"allowed_internal_hosts": ["127.0.0.1", "127.0.0.2"]})


def wiki(home: RecordingServer) -> Source:
    return Source(
        id="wiki",
        kind="mediawiki",
        location=[home.url("/api.php")],
        access=["public"],
        options={"user": "Lore@sync"},
        credentials=Credentials(env="LORE_SECRET_WIKI"),
    )


def signing_in_wiki(moved: str, *, at_login: bool = False) -> Handler:
    """api.php that hands out a login token and signs in (setting the session cookie), then redirects
    every other call to `moved`; with `at_login` it redirects the sign-in itself (307: keep the body)."""

    async def api(request: web.Request) -> web.StreamResponse:
        if request.query.get("meta") == "tokens":
            return web.json_response({"query": {"tokens": {"logintoken": "tok+\\"}}})
        if request.query.get("action") == "login" and at_login:
            return web.Response(status=307, headers={"Location": moved})
        if request.query.get("action") == "login":
            return web.json_response({"login": {"result": "Success"}}, headers={"Set-Cookie": SIGNED_IN})
        return web.Response(status=302, headers={"Location": moved})

    return api


async def failed_listing(source: Source, settings: Settings, match: str | None = None) -> ListingError:
    """The error that ends `source`'s listing (the second server answers nothing useful)."""
    connector = connector_for(source, settings)
    with pytest.raises(ListingError, match=match) as failed:
        [ref async for ref in connector.list_documents()]
    return failed.value


async def test_the_wiki_sign_in_cookie_does_not_follow_a_redirect(
    servers: tuple[RecordingServer, RecordingServer], loopback: Settings
) -> None:
    home, other = servers
    home.route("/api.php", signing_in_wiki(other.url("/api.php?meta=siteinfo")))
    await failed_listing(wiki(home), loopback)
    signed_in = [s for s in home.seen if s.query.get("meta") == "siteinfo"]
    assert signed_in and SIGNED_IN in signed_in[0].headers.get("Cookie", "")  # the wiki itself gets it
    assert any(PASSWORD in s.body.decode() for s in home.seen)
    assert other.seen  # the redirect was followed …
    assert all("Cookie" not in s.headers for s in other.seen)  # … without the cookie
    assert not other.sent_anything(PASSWORD, "SIGNEDIN")


async def test_a_redirected_sign_in_is_not_followed(
    servers: tuple[RecordingServer, RecordingServer], loopback: Settings
) -> None:
    home, other = servers
    home.route("/api.php", signing_in_wiki(other.url("/api.php"), at_login=True))
    refused = await failed_listing(wiki(home), loopback, "redirected a sign-in")
    assert refused.retryable is False
    assert any(PASSWORD in s.body.decode() for s in home.seen)
    assert other.seen == []  # a 307 would have carried the password there


def confluence(home: RecordingServer) -> Source:
    return Source(
        id="conf",
        kind="confluence",
        location=[home.url("/wiki")],
        access=[],
        options={"user": "bot@example.com", "spaces": "ENG"},
        credentials=Credentials(env="LORE_SECRET_CONFLUENCE"),
    )


async def test_confluence_authorization_does_not_follow_a_redirect(
    servers: tuple[RecordingServer, RecordingServer], loopback: Settings
) -> None:
    home, other = servers
    home.route("/wiki/rest/api/space", redirect(other.url("/wiki/rest/api/space")))
    await failed_listing(confluence(home), loopback)
    assert home.seen[0].headers.get("Authorization", "").startswith("Basic ")
    assert other.seen and all("Authorization" not in s.headers for s in other.seen)


async def test_confluence_authorization_does_not_follow_a_link_to_another_origin(
    servers: tuple[RecordingServer, RecordingServer], loopback: Settings
) -> None:
    home, other = servers
    first = {"results": [{"key": "ENG"}], "size": 1, "_links": {"next": other.url("/wiki/rest/api/space")}}
    home.route("/wiki/rest/api/space", json_reply(first))
    await failed_listing(confluence(home), loopback)
    assert home.seen[0].headers.get("Authorization", "").startswith("Basic ")
    assert [s.path for s in other.seen] == ["/wiki/rest/api/space"]  # the next page was asked for …
    assert "Authorization" not in other.seen[0].headers  # … without the token


async def test_a_remote_lore_that_redirects_gets_the_key_but_the_redirect_is_not_followed(
    servers: tuple[RecordingServer, RecordingServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home, other = servers
    home.route("/v1/search", redirect(other.url("/v1/search"), 307))
    monkeypatch.setenv("LORE_SECRET_HQ", TOKEN)
    registry = FileRegistry(tmp_path / "sources.json")
    remote = Source(
        id="hq",
        kind="lore-remote",
        location=[home.origin],
        access=["public"],
        credentials=Credentials(env="LORE_SECRET_HQ"),
    )
    await registry.put(remote)
    federation = Federation(registry, 5.0, guard=HostGuard(["127.0.0.1", "127.0.0.2"]))
    found = await federation.search("anything", Principal.anonymous(), 3)
    status = await federation.probe(remote)
    await federation.close()
    assert found.skipped == ["hq"] and "redirects to" in status.summary
    assert home.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert other.seen == []
