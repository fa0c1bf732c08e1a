"""HTTP for the connectors of wikis and web sites: JSON calls and size-limited downloads, with rate limits
honoured (429/503 wait out `Retry-After`), credentials refused told apart from a server that is down, and
every error saying what to fix.

A listing that fails raises `ListingError` (nothing is pruned); a download that fails raises `OSError`
(the sync records it against that one document) or `ValueError` when the document is over the size limit.

A source's secret goes only to its own origin (`home`: scheme, host and port): `credentials` headers are
added to requests for that origin alone (aiohttp drops them when a redirect leaves it), sign-in cookies
stay in an `OriginJar`, and a sign-in (a POST with a body) is never redirected. Every connection goes
through the host rule of knowledge/hosts.py (no loopback, link-local or metadata addresses unless allowed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel

from ingestion.connectors.base import ListingError
from knowledge.hosts import HostGuard, OriginJar, RefusedHost, same_origin

log = logging.getLogger(__name__)

USER_AGENT = "LoreBot/0.1 (+https://github.com/lore; knowledge assistant sync)"
RETRIED = {429, 502, 503, 504}
MAX_WAIT = 120.0  # seconds: a Retry-After longer than this fails the request instead of stalling the sync


class HttpFailure(Exception):
    """An HTTP call that failed for good; `status` is 0 when the server was not reached."""

    def __init__(self, message: str, status: int = 0, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable and status not in (401, 403)


class Downloaded(BaseModel):
    """A document fetched into a local file, with the validators the server sent."""

    path: Path | None = None  # None when the server said 304 Not Modified
    status: int
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    url: str = ""  # after redirects


class Http:
    """One connector's HTTP client settings; open a `session()` per listing or fetch."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        credentials: Mapping[str, str] | None = None,
        home: str = "",
        guard: HostGuard | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        what: str = "the server",
    ) -> None:
        """`credentials`: headers that carry the source's secret, sent only to `home`'s origin; `guard`:
        the host rule with the operator's exceptions (default: none)."""
        if credentials and not home:
            raise ValueError("credentials need the home URL they may be sent to")
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.credentials = dict(credentials or {})
        self.home = home
        self.guard = guard or HostGuard()
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
        self.retries = retries
        self.what = what

    @asynccontextmanager
    async def session(
        self, cookie_jar: aiohttp.CookieJar | None = None
    ) -> AsyncIterator[aiohttp.ClientSession]:
        """A client session with this connector's headers and timeouts, connecting only where the host rule
        allows. Pass a `cookie_jar` (from `cookie_jar()`) to keep a sign-in across sessions."""
        async with aiohttp.ClientSession(
            headers=self.headers,
            timeout=self.timeout,
            raise_for_status=False,
            cookie_jar=self.cookie_jar() if cookie_jar is None else cookie_jar,
            connector=self.guard.connector(),
        ) as session:
            yield session

    def cookie_jar(self) -> aiohttp.CookieJar:
        """A jar whose cookies go back to the home origin only (any origin when there is no home); it
        accepts cookies of hosts named by IP address (intranet servers often are)."""
        return OriginJar([self.home]) if self.home else aiohttp.CookieJar(unsafe=True)

    def _with_credentials(self, url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
        """`headers`, plus the credentials when `url` is on the home origin."""
        mine = self.credentials if self.credentials and same_origin(url, self.home) else {}
        return {**(headers or {}), **mine}

    async def _send(
        self,
        session: aiohttp.ClientSession,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        method: str = "GET",
        data: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """The response (caller releases it), after waiting out rate limits; `HttpFailure` otherwise."""
        sent = self._with_credentials(url, headers)
        for attempt in range(self.retries + 1):
            try:
                # a body (a sign-in) is not redirected: a 307/308 would carry it to wherever it points
                response = await session.request(
                    method, url, params=params, headers=sent, data=data, allow_redirects=data is None
                )
            except RefusedHost as exc:
                raise HttpFailure(str(exc), retryable=False) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt == self.retries:
                    raise HttpFailure(f"cannot reach {self.what} at {_host(url)}: {reason(exc)}") from exc
                await asyncio.sleep(min(2.0**attempt, 10.0))
                continue
            if response.status in RETRIED and attempt < self.retries:
                wait = retry_after(response.headers.get("Retry-After"), default=min(2.0**attempt, 10.0))
                response.release()
                if wait > MAX_WAIT:
                    raise HttpFailure(
                        f"{self.what} asks Lore to wait {wait:.0f} s (rate limit); the next sync goes on",
                        response.status,
                    )
                log.info("%s answered %d; waiting %.1f s", _host(url), response.status, wait)
                await asyncio.sleep(wait)
                continue
            if data is not None and 300 <= response.status < 400:
                response.release()
                raise HttpFailure(
                    f"{self.what} redirected a sign-in to {response.headers.get('Location', '?')}: Lore does "
                    "not follow it; give the source the URL it redirects to",
                    response.status,
                    retryable=False,
                )
            if response.status in (401, 403):
                response.release()
                raise HttpFailure(
                    f"{self.what} refused Lore's credentials (HTTP {response.status}): check the account "
                    "and the secret the source's credentials name, and that the account may read it",
                    response.status,
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_json(
        self,
        session: aiohttp.ClientSession,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON of a listing call; `ListingError` when it fails (so nothing is pruned)."""
        try:
            response = await self._send(session, url, params, {"Accept": "application/json"}, method, data)
        except HttpFailure as exc:
            raise ListingError(str(exc), retryable=exc.retryable, status=exc.status) from exc
        async with response:
            if response.status == 404:
                raise ListingError(
                    f"{url} was not found (HTTP 404): check the source's URL", retryable=False, status=404
                )
            if response.status >= 400:
                raise ListingError(
                    f"{self.what} answered HTTP {response.status} for {_host(url)}", status=response.status
                )
            try:
                return await response.json(content_type=None)
            except (ValueError, aiohttp.ClientError) as exc:
                raise ListingError(f"{self.what} sent something that is not JSON from {url}") from exc

    async def download(
        self,
        session: aiohttp.ClientSession,
        url: str,
        dest: Path,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
    ) -> Downloaded:
        """Stream `url` into `dest`, stopping past `max_bytes` (ValueError); HTTP errors are `OSError`."""
        try:
            response = await self._send(session, url, None, headers)
        except HttpFailure as exc:
            raise OSError(str(exc)) from exc
        async with response:
            meta = Downloaded(
                status=response.status,
                etag=response.headers.get("ETag", ""),
                last_modified=response.headers.get("Last-Modified", ""),
                content_type=response.headers.get("Content-Type", ""),
                url=str(response.url),
            )
            if response.status == 304:
                return meta
            if response.status >= 400:
                raise OSError(f"HTTP {response.status} from {_host(url)}")
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise ValueError(too_large(declared, max_bytes))
            size = 0
            try:
                with dest.open("wb") as out:
                    async for block in response.content.iter_chunked(1 << 16):
                        size += len(block)
                        if size > max_bytes:
                            raise ValueError(too_large(size, max_bytes, more=True))
                        out.write(block)
            except (aiohttp.ClientError, TimeoutError) as exc:
                await asyncio.to_thread(dest.unlink, True)
                raise OSError(f"download from {_host(url)} broke off: {reason(exc)}") from exc
            except ValueError:
                await asyncio.to_thread(dest.unlink, True)
                raise
        return meta.model_copy(update={"path": dest})


def retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); `default` when absent."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def too_large(size: int, limit: int, more: bool = False) -> str:
    """Why a document over the size limit is skipped."""
    over = "more than " if more else ""
    return f"file too large ({over}{size / 1e6:.1f} MB > {limit / 1e6:.0f} MB limit, LORE_MAX_FILE_MB)"


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def reason(exc: BaseException) -> str:
    """A network error in a few words."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    return " ".join(str(exc).split())[:120] or type(exc).__name__
