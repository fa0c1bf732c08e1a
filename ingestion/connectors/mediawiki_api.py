"""MediaWiki's Action API as the MediaWiki connector uses it: typed payloads, `continue` followed, API errors
(which come with HTTP 200) turned into `ListingError`s that say what to fix, bot-password login, and the
rendered page (`action=parse`) written as the small HTML file the parser expects.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingestion.connectors.base import ListingError
from ingestion.connectors.http import Http

BASE = {"format": "json", "formatversion": "2", "maxlag": "5"}  # maxlag: yield to a lagging wiki, as bots do
MAXLAG_TRIES = 3
MAXLAG_WAIT = 5.0  # seconds between tries when the wiki says its database lags
PAGE_PROPS = {"prop": "info|revisions", "inprop": "url|displaytitle", "rvprop": "ids|timestamp"}
_TAG = re.compile(r"<[^>]*>")
M = TypeVar("M", bound=BaseModel)

# API error codes whose fix is on the admin's side: (message, retryable)
ADVICE = {
    "readapidenied": (
        "the wiki lets only signed-in users read: give the source user= (a bot password's name from "
        "Special:BotPasswords, e.g. Lore@sync) and credentials holding its password",
        False,
    ),
    "assertuserfailed": ("the wiki session of the bot user ended: the next sync signs in again", True),
    "mwoauth-invalid-authorization": ("the wiki refused Lore's authorization: check the bot password", False),
}


class WikiError(ListingError):
    """An error the API answered with (`{"error": {"code": ..., "info": ...}}`)."""

    def __init__(self, code: str, info: str) -> None:
        message, retryable = ADVICE.get(code, (f"the wiki answered {code}: {info}", True))
        super().__init__(message, retryable=retryable)
        self.code = code


class Revision(BaseModel):
    revid: int = 0
    timestamp: datetime | None = None


class PageInfo(BaseModel):
    """One page of a `prop=info|revisions` query (a missing page has `missing` and maybe no id)."""

    model_config = ConfigDict(extra="ignore")

    pageid: int | None = None
    ns: int = 0
    title: str = ""
    missing: bool = False
    invalid: bool = False
    redirect: bool = False
    lastrevid: int = 0
    touched: datetime | None = None
    fullurl: str = ""
    canonicalurl: str = ""
    displaytitle: str = ""
    revisions: list[Revision] = Field(default_factory=list)

    @property
    def gone(self) -> bool:
        """Not a readable content page: deleted, invalid, or a redirect (its target is listed instead)."""
        return self.missing or self.invalid or self.redirect or self.pageid is None


class Namespace(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str = ""
    canonical: str = ""


class Site(BaseModel):
    """What one probe tells: the wiki's clock, its namespaces, and its oldest recent change still kept."""

    time: datetime
    namespaces: dict[int, Namespace]
    oldest_change: datetime | None


class RecentChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    ns: int = 0
    title: str = ""
    pageid: int = 0
    timestamp: datetime
    logtype: str = ""
    logaction: str = ""
    logparams: dict[str, Any] | list[Any] = Field(default_factory=dict)

    @property
    def target(self) -> tuple[int, str] | None:
        """Where a move log entry moved the page to."""
        params = self.logparams if isinstance(self.logparams, dict) else {}
        ns, title = params.get("target_ns"), params.get("target_title")
        if self.type == "log" and isinstance(ns, int) and isinstance(title, str):
            return ns, title
        return None


class ParsedPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pageid: int
    title: str
    revid: int = 0
    text: str = ""
    displaytitle: str = ""


class WikiApi:
    """Calls to one wiki's api.php through `Http`."""

    def __init__(self, url: str, http: Http) -> None:
        self.url = url
        self.http = http

    async def call(
        self,
        session: aiohttp.ClientSession,
        params: Mapping[str, str],
        post: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call; `WikiError` for an API error, after waiting out a lagging database."""
        query = {**BASE, **params}
        for attempt in range(MAXLAG_TRIES):
            if post is None:
                data = await self.http.get_json(session, self.url, query)
            else:
                data = await self.http.get_json(session, self.url, query, method="POST", data=post)
            if not isinstance(data, dict):
                raise ListingError(
                    f"{self.url} did not answer like MediaWiki's api.php: check the source's URL"
                )
            error = data.get("error")
            if not isinstance(error, dict):
                return data
            code = str(error.get("code", "unknown"))
            if code == "maxlag" and attempt + 1 < MAXLAG_TRIES:
                await asyncio.sleep(MAXLAG_WAIT)
                continue
            raise WikiError(code, str(error.get("info", "")))
        raise AssertionError("unreachable")  # pragma: no cover

    async def continued(
        self, session: aiohttp.ClientSession, params: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every batch of a query, following `continue` until the wiki says it is complete."""
        more: dict[str, str] = {}
        while True:
            data = await self.call(session, {**params, **more})
            yield data
            following = data.get("continue")
            if not isinstance(following, dict):
                return
            nxt = {str(k): str(v) for k, v in following.items()}
            if nxt == more:
                raise ListingError(f"the wiki at {self.url} repeats its continuation: the listing cannot end")
            more = nxt

    async def pages(self, session: aiohttp.ClientSession, params: Mapping[str, str]) -> list[PageInfo]:
        """The pages of a query, merged across batches (one page's properties may span batches)."""
        merged: dict[str, dict[str, Any]] = {}
        async for data in self.continued(session, {"action": "query", **PAGE_PROPS, **params}):
            for page in data.get("query", {}).get("pages", []):
                key = str(page.get("pageid") or f"{page.get('ns')}:{page.get('title')}")
                merged.setdefault(key, {}).update(page)
        return [_valid(PageInfo, page) for page in merged.values()]

    async def changes(self, session: aiohttp.ClientSession, since: datetime) -> AsyncIterator[RecentChange]:
        """Edits, page creations and log events (deletions, moves, restores, imports...) since `since`."""
        params = {
            "action": "query",
            "list": "recentchanges",
            "rcdir": "newer",
            "rcstart": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rctype": "edit|new|log",
            "rcprop": "ids|title|timestamp|loginfo",
            "rclimit": "max",
        }
        async for data in self.continued(session, params):
            for change in data.get("query", {}).get("recentchanges", []):
                yield _valid(RecentChange, change)

    async def site(self, session: aiohttp.ClientSession) -> Site:
        """The wiki's time and namespaces, and the timestamp of its oldest recent change (one call)."""
        data = await self.call(
            session,
            {
                "action": "query",
                "meta": "siteinfo",
                "siprop": "general|namespaces",
                "list": "recentchanges",
                "rcdir": "newer",
                "rclimit": "1",
                "rcprop": "timestamp",
            },
        )
        query = data.get("query", {})
        try:
            spaces = [Namespace.model_validate(n) for n in query["namespaces"].values()]
            oldest = [RecentChange.model_validate({"type": "", **c}) for c in query.get("recentchanges", [])]
            return Site(
                time=query["general"]["time"],
                namespaces={n.id: n for n in spaces},
                oldest_change=oldest[0].timestamp if oldest else None,
            )
        except (KeyError, AttributeError, ValidationError) as exc:
            raise ListingError(f"{self.url} did not answer like MediaWiki's api.php: check the URL") from exc

    async def login(self, session: aiohttp.ClientSession, user: str, password: str) -> None:
        """Sign in with a bot password; the session's cookie jar keeps the wiki's session cookie."""
        data = await self.call(session, {"action": "query", "meta": "tokens", "type": "login"})
        token = str(data.get("query", {}).get("tokens", {}).get("logintoken", ""))
        data = await self.call(
            session, {"action": "login"}, post={"lgname": user, "lgpassword": password, "lgtoken": token}
        )
        answer = data.get("login", {})
        result, reason = str(answer.get("result", "")), _plain(str(answer.get("reason", "")))
        if result == "Success":
            return
        if result in ("Failed", "Aborted"):
            raise ListingError(
                f"the wiki refused the bot password of {user} ({reason}): check user= (the name shown "
                "by Special:BotPasswords, e.g. Lore@sync) and the password in the source's credentials",
                retryable=False,
            )
        raise ListingError(f"signing in to the wiki as {user} failed ({result}: {reason}); Lore tries again")

    def parse_url(self, pageid: int) -> str:
        """The URL of a page's rendered HTML, without edit links, table of contents or limit report."""
        params = {
            **BASE,
            "action": "parse",
            "pageid": str(pageid),
            "prop": "text|displaytitle|revid",
            "disableeditsection": "1",
            "disabletoc": "1",
            "disablelimitreport": "1",
        }
        return f"{self.url}?{urlencode(params)}"


def read_parsed(path: Path) -> ParsedPage:
    """The page in a downloaded `action=parse` answer; `OSError` when the wiki answered with an error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OSError("the wiki sent something that is not JSON for a page") from exc
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        if error.get("code") == "nosuchpageid":
            raise OSError("the page was deleted since the listing; the next sync removes it")
        raise OSError(str(WikiError(str(error.get("code")), str(error.get("info", "")))))
    try:
        return ParsedPage.model_validate(data["parse"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise OSError("the wiki's answer for a page has no rendered text") from exc


def page_html(page: ParsedPage) -> str:
    """The rendered page as the parser wants it: the title as h1, the wiki's own headings (h2...) below."""
    title = html.escape(_plain(page.displaytitle) or page.title)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body><h1>{title}</h1>\n{page.text}\n</body></html>\n"
    )


def plain_title(page: PageInfo) -> str:
    """A page's display title as text (DISPLAYTITLE may carry markup), else its title."""
    return _plain(page.displaytitle) or page.title


def _plain(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _valid(model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ListingError(
            f"the wiki sent a {model.__name__} Lore cannot read: {exc.errors()[0]['msg']}"
        ) from exc
