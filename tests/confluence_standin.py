"""A Confluence site (REST v1, Cloud or Data Center) for tests, over real HTTP on a free port of 127.0.0.1.

    async with ConfluenceStandin() as site:   # Cloud: base_url ends in /wiki and wants basic auth
        site.edit("1002", "<p>New text</p>")   # a new version, modified now
        site.delete("1005")
        site.throttle(1)                       # the next call answers 429 with Retry-After: 1
        assert site.count("/child/attachment") == 2

`standin_thread()` serves it from a thread of its own, so that one site can serve a whole test module.
It replays the recorded responses of tests/data/confluence/ (see the README there): it paginates `results`
itself (at most `max_limit` per page, `_links.next` while there are more), keeps only the expansions that
were asked for, answers CQL searches (`space = "KEY" and type in (...) and lastmodified >= "yyyy-MM-dd
HH:mm"`, the date read in the site's time zone, UTC-10 like Honolulu) from the pages' versions, and refuses
any other Authorization header than the one of `reset()`.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

DATA = Path(__file__).parent / "data" / "confluence"
SITE_ZONE = timezone(timedelta(hours=-10))  # CQL dates are read in the site's (or account's) time zone
EXPANSIONS = {"version", "ancestors", "restrictions", "space", "body", "container", "permissions"}
Json = Any


@dataclass
class Seen:
    """One request the site received (path without the context path, e.g. /rest/api/content)."""

    path: str
    query: dict[str, list[str]]
    authorization: str
    status: int


class ConfluenceStandin:
    """The recorded site, whose pages a test can edit, restrict and delete."""

    def __init__(self, *, max_limit: int = 2) -> None:
        self.max_limit = max_limit
        self.origin = ""
        self._runner: web.AppRunner | None = None
        self.reset()

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns `base_url`."""
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.reset(self.flavour, self.user, self.token)
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ConfluenceStandin:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ----- what a test sets up and asks

    def reset(
        self, flavour: str = "cloud", user: str | None = "bot@example.com", token: str = "t0ken"
    ) -> None:
        """The recorded site again: `cloud` (context /wiki, basic auth of `user`) or `dc` (no context path,
        `token` as a bearer token, space permissions at /rest/api/space/KEY/permissions)."""
        self.flavour, self.user, self.token = flavour, user, token
        self.context = "/wiki" if flavour == "cloud" else ""
        self.base_url = self.origin + self.context
        self.expected_auth = (
            "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode() if user else f"Bearer {token}"
        )
        self.spaces = {s["key"]: s for s in self._load("cloud_spaces.json")["results"]}
        self.pages: dict[str, Json] = {}
        self.dc_permissions: dict[str, Json] = {}
        for key in self.spaces:
            self.pages |= {p["id"]: p for p in self._load(f"content_{key}.json")["results"]}
            self.dc_permissions[key] = self._load(f"dc_permissions_{key}.json")
        self.views: dict[str, Json] = self._load("export_view.json")
        self.attachments: dict[str, list[Json]] = {
            page_id: listing["results"] for page_id, listing in self._load("attachments.json").items()
        }
        self.errors: dict[str, Json] = self._load("errors.json")
        self.dc_permissions_available = True
        self.gone: set[str] = set()  # pages whose attachments are not found any more
        self.list_expands_permissions = True  # False: only GET /rest/api/space/KEY expands them (Cloud)
        self.seen: list[Seen] = []
        self._throttled = 0

    def edit(self, page_id: str, html: str) -> None:
        """A new version of the page, modified now, with `html` as its body."""
        version = self.pages[page_id]["version"]
        version["number"] += 1
        version["when"] = _now()
        self.views[page_id]["body"]["export_view"]["value"] = html

    def delete(self, page_id: str) -> None:
        """The page and its attachments are gone (to the trash)."""
        del self.pages[page_id]
        self.views.pop(page_id, None)
        self.attachments.pop(page_id, None)

    def restrict(self, page_id: str, groups: list[str]) -> None:
        """Read restrictions to `groups`; as in Confluence, the page's version and time do not change."""
        found = [{"type": "group", "name": name, "id": f"id-{name}"} for name in groups]
        read = self.pages[page_id]["restrictions"]["read"]["restrictions"]
        read["group"] = {"results": found, "start": 0, "limit": 200, "size": len(found)}

    def throttle(self, calls: int) -> None:
        """The next `calls` requests answer 429 Too Many Requests with Retry-After: 1."""
        self._throttled = calls

    def count(self, fragment: str) -> int:
        """How many requests had `fragment` in their path."""
        return sum(1 for seen in self.seen if fragment in seen.path)

    # ----- serving

    def _load(self, name: str) -> Json:
        return json.loads((DATA / name).read_text(encoding="utf-8").replace("{base}", self.base_url))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = {key: request.query.getall(key) for key in request.query}
        auth = request.headers.get("Authorization", "")
        if self.context and not path.startswith(self.context + "/"):
            return self._answer(Seen(path, query, auth, 404), self.errors["404"])
        seen = Seen(path.removeprefix(self.context), query, auth, 200)
        if self._throttled:
            self._throttled -= 1
            seen.status = 429
            return self._answer(seen, self.errors["429"], {"Retry-After": "1"})
        if auth != self.expected_auth:
            seen.status = 401
            return self._answer(
                seen, self.errors["401"], {"WWW-Authenticate": 'Basic realm="protected-area"'}
            )
        if seen.path.startswith("/download/attachments/"):
            return self._download(seen)
        body = self._route(seen.path, query)
        if body is None:
            seen.status = 404
            body = self.errors["404"]
        elif isinstance(body, dict) and body.get("statusCode") == 400:  # a CQL query it cannot read
            seen.status = 400
        return self._answer(seen, body)

    def _answer(self, seen: Seen, body: Json, headers: dict[str, str] | None = None) -> web.Response:
        self.seen.append(seen)
        return web.json_response(body, status=seen.status, headers=headers)

    def _route(self, path: str, query: dict[str, list[str]]) -> Json | None:
        expand = _first(query, "expand")
        if path == "/rest/api/space":
            keys = query.get("spaceKey") or list(self.spaces)
            listed = expand if self.list_expands_permissions else ""
            found = [self._space(self.spaces[k], listed) for k in keys if k in self.spaces]
            return self._paged(path, query, found)
        if match := re.fullmatch(r"/rest/api/space/([^/]+)", path):
            space = self.spaces.get(match.group(1))
            return self._space(space, expand) if space else None
        if match := re.fullmatch(r"/rest/api/space/([^/]+)/permissions", path):
            usable = self.flavour == "dc" and self.dc_permissions_available
            return self.dc_permissions.get(match.group(1)) if usable else None
        if path == "/rest/api/content":
            key = _first(query, "spaceKey")
            found = [_expanded(p, expand) for p in self.pages.values() if p["space"]["key"] == key]
            return self._paged(path, query, found)
        if path == "/rest/api/content/search":
            return self._search(path, query, expand)
        if match := re.fullmatch(r"/rest/api/content/(\d+)/child/attachment", path):
            if match.group(1) in self.gone:  # deleted after the pages were listed
                return None
            found = [_expanded(a, expand) for a in self.attachments.get(match.group(1), [])]
            return self._paged(path, query, found) if match.group(1) in self.pages else None
        if match := re.fullmatch(r"/rest/api/content/(\d+)", path):
            view = self.views.get(match.group(1))
            return _expanded(view, expand) if view else None
        return None

    def _space(self, space: Json, expand: str) -> Json:
        if self.flavour == "cloud":
            return _expanded(space, expand)
        return _expanded(space, "")  # Data Center knows no permissions expansion

    def _search(self, path: str, query: dict[str, list[str]], expand: str) -> Json:
        cql = _first(query, "cql")
        key = re.search(r'space\s*=\s*"([^"]+)"', cql)
        types = re.search(r"type\s+in\s*\(([^)]*)\)", cql)
        since = re.search(r'lastmodified\s*>=\s*"(\d{4}-\d\d-\d\d \d\d:\d\d)"', cql)
        if not key or not types or not since:
            return {"statusCode": 400, "message": f"Could not parse cql : {cql}"}
        wanted = {t.strip() for t in types.group(1).split(",")}
        cutoff = datetime.strptime(since.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=SITE_ZONE)
        found: list[Json] = []
        for page in self.pages.values():
            if page["space"]["key"] != key.group(1):
                continue
            if "page" in wanted and _when(page) >= cutoff:
                found.append(_expanded(page, expand))
            for attachment in self.attachments.get(page["id"], []) if "attachment" in wanted else []:
                if _when(attachment) >= cutoff:
                    item = attachment | {
                        "container": {"id": page["id"], "type": "page", "title": page["title"]}
                    }
                    found.append(_expanded(item, expand))
        return self._paged(path, query, found) | {
            "cqlQuery": cql,
            "searchDuration": 12,
            "totalSize": len(found),
        }

    def _paged(self, path: str, query: dict[str, list[str]], results: list[Json]) -> Json:
        start = int(_first(query, "start") or 0)
        limit = min(int(_first(query, "limit") or 25), self.max_limit)
        chunk = results[start : start + limit]
        links = {"base": self.base_url, "context": self.context, "self": self.base_url + path}
        if start + limit < len(results):
            rest = [(k, v) for k, values in query.items() if k not in ("start", "limit") for v in values]
            links["next"] = f"{path}?{urlencode([*rest, ('limit', limit), ('start', start + limit)])}"
        return {"results": chunk, "start": start, "limit": limit, "size": len(chunk), "_links": links}

    def _download(self, seen: Seen) -> web.Response:
        page_id, name = seen.path.removeprefix("/download/attachments/").split("/", 1)
        listed = {a["title"] for a in self.attachments.get(page_id, [])}
        if name not in listed or not (DATA / "files" / name).is_file():
            seen.status = 404
            return self._answer(seen, self.errors["404"])
        self.seen.append(seen)
        return web.Response(
            body=(DATA / "files" / name).read_bytes(), content_type="application/octet-stream"
        )


def _expanded(item: Json, expand: str) -> Json:
    """A copy of `item` with only the expansions asked for (`a.b` asks for `a`)."""
    asked = {part.split(".")[0] for part in expand.split(",") if part}
    return {k: copy.deepcopy(v) for k, v in item.items() if k not in EXPANSIONS or k in asked}


def _first(query: dict[str, list[str]], key: str) -> str:
    return query.get(key, [""])[0]


def _when(content: Json) -> datetime:
    return datetime.fromisoformat(content["version"]["when"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def standin_thread(**options: Any) -> Iterator[ConfluenceStandin]:
    """The stand-in served from its own event loop in a thread, so that one site can outlive the event
    loops of the tests of a module (each async test has its own)."""
    site = ConfluenceStandin(**options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="confluence-standin", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(site.start(), loop).result(timeout=10)
        yield site
    finally:
        asyncio.run_coroutine_threadsafe(site.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
