"""GET for the web connector: the status of every answer (a crawl tells 404 from 500 from 304), bodies
read only when wanted and within a size limit, rate limits and robots.txt's Crawl-delay honoured.

`Http.download` (ingestion/connectors/http.py) turns every status >= 400 into the same OSError, and its
retries wait up to 15 s for a server that is down; a crawl needs the status and fails fast instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel

from ingestion.connectors.http import MAX_WAIT, HttpFailure, reason, retry_after, too_large
from knowledge.hosts import RefusedHost

log = logging.getLogger(__name__)

RETRIES = 2  # a connection that fails is tried twice more, 0.5 s then 1 s later
RATE_LIMITED = {429, 503}
MAX_CRAWL_DELAY = 5.0  # seconds: a longer Crawl-delay is shortened to this (a sync must end)


class Answer(BaseModel):
    """One HTTP answer; `body` is empty unless it was wanted (a 200 with an accepted content type)."""

    status: int
    url: str  # after redirects
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    charset: str | None = None
    body: bytes = b""


class Pacer:
    """Keeps requests to each host at least `delay` seconds apart (robots.txt's Crawl-delay)."""

    def __init__(self) -> None:
        self.delays: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def set_delay(self, host: str, seconds: float | None) -> None:
        if seconds:
            self.delays[host] = min(float(seconds), MAX_CRAWL_DELAY)

    async def wait(self, host: str) -> None:
        delay = self.delays.get(host, 0.0)
        if not delay:
            return
        async with self._locks.setdefault(host, asyncio.Lock()):
            pause = self._next.get(host, 0.0) - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            self._next[host] = time.monotonic() + delay


async def get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    wanted: Callable[[str], bool] = lambda _: True,
    pacer: Pacer | None = None,
    retries: int = RETRIES,
) -> Answer:
    """The answer to GET `url`. `HttpFailure` (status 0) when the server cannot be reached; ValueError
    when the body is over `max_bytes`; the body is read only for a 200 whose content type is `wanted`."""
    host = urlsplit(url).netloc
    for attempt in range(retries + 1):
        if pacer is not None:
            await pacer.wait(host)
        try:
            async with session.get(url, headers=headers, allow_redirects=True) as response:
                if response.status in RATE_LIMITED and attempt < retries:
                    wait = retry_after(response.headers.get("Retry-After"), default=2.0**attempt)
                    if wait <= MAX_WAIT:
                        log.info("%s answered %d; waiting %.1f s", host, response.status, wait)
                        await asyncio.sleep(wait)
                        continue
                answer = Answer(
                    status=response.status,
                    url=str(response.url),
                    etag=response.headers.get("ETag", ""),
                    last_modified=response.headers.get("Last-Modified", ""),
                    content_type=response.headers.get("Content-Type", ""),
                    charset=response.charset,
                )
                if response.status == 200 and wanted(answer.content_type):
                    answer.body = await _read(response, max_bytes)
                return answer
        except RefusedHost as exc:  # the host rule (knowledge/hosts.py): trying again cannot help
            raise HttpFailure(str(exc), retryable=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            if attempt == retries:
                raise HttpFailure(f"cannot reach {host}: {reason(exc)}") from exc
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _read(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise ValueError(too_large(declared, max_bytes))
    blocks: list[bytes] = []
    size = 0
    async for block in response.content.iter_chunked(1 << 16):
        size += len(block)
        if size > max_bytes:
            raise ValueError(too_large(size, max_bytes, more=True))
        blocks.append(block)
    return b"".join(blocks)
