"""Who is calling the Knowledge API: the bearer key, checked against the key store, and its rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel

from knowledge import keys
from knowledge.apikeys import ApiKey, ApiKeys
from knowledge.directory import DirectoryFile
from knowledge.kv.base import KeyValue

WINDOW = 60  # seconds of a rate-limit window
BEARER = "bearer "


class Refusal(BaseModel):
    """Why a request is refused: the HTTP status, the error code and how to fix it."""

    status: int
    code: str
    message: str
    retry_after: int | None = None


MISSING = Refusal(
    status=401,
    code="unauthorized",
    message="send an API key as `Authorization: Bearer <key>`; an admin creates one with "
    "`/lore apikey create NAME access=…` or `lore apikey create NAME`",
)
WRONG = Refusal(
    status=401,
    code="unauthorized",
    message="this API key is unknown or revoked: ask an admin for a new one (`/lore apikey list` shows keys)",
)


def bearer(header: str | None) -> str | None:
    """The key in an `Authorization: Bearer …` header, or None."""
    if header is None or not header.lower().startswith(BEARER):
        return None
    key = header[len(BEARER) :].strip()
    return key or None


class Gate:
    """Lets a request in with a valid key within its rate limit; the limit is counted in the shared store, so
    it holds across API replicas. A key that holds `user:EMAIL` also holds that person's groups in the
    directory file, as the file says at the moment of the request."""

    def __init__(
        self,
        api_keys: ApiKeys,
        store: KeyValue,
        directory: DirectoryFile | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_keys = api_keys
        self.clock = clock
        self.store = store
        self.directory = directory or DirectoryFile(None)

    async def admit(self, header: str | None) -> ApiKey | Refusal:
        """The caller's key (its grants widened by the directory), or why it is refused (missing, wrong or
        revoked key; over its rate limit)."""
        key = bearer(header)
        if key is None:
            return MISSING
        found = await self.api_keys.verify(key)
        if found is None:
            return WRONG
        return await self.charge(found) or self.widened(found)

    def widened(self, key: ApiKey) -> ApiKey:
        """`key` with the directory groups of each person it holds `user:` of, as the directory says now."""
        grants = self.directory.expand(key.principal).sorted()
        return key if grants == key.grants else key.model_copy(update={"grants": grants})

    async def charge(self, key: ApiKey) -> Refusal | None:
        """Count one request of `key` (shared by every replica, the HTTP API and MCP); the refusal when that
        goes over the key's rate limit. The count is a sliding minute: this minute's requests plus the last
        minute's weighted by how much of it still lies inside the past 60 seconds, so a burst that straddles
        the turn of a minute is refused like any other."""
        if not key.rate_limit:
            return None
        now = self.clock()
        window, into = divmod(now, WINDOW)
        counter = keys.api_rate(key.id, int(window))
        count = await self.store.incr(counter, WINDOW * 2)
        before = int(await self.store.get(keys.api_rate(key.id, int(window) - 1)) or 0)
        if count + before * (1 - into / WINDOW) <= key.rate_limit:
            return None
        await self.store.incr(counter, WINDOW * 2, by=-1)  # a refused request uses nothing up
        wait = _wait(count, before, into, key.rate_limit)
        return Refusal(
            status=429,
            code="rate_limited",
            message=f"this key may make {key.rate_limit} requests a minute; wait and try again, "
            "or ask an admin for a key with a higher limit",
            retry_after=max(1, int(wait) + 1),
        )


def _wait(count: int, before: int, into: float, limit: int) -> float:
    """Seconds until a request refused as the `count`th of this minute (`into` seconds in, `before` requests
    the minute before) would be let in: when enough of the last minute has slid out, or, when this minute
    is full by itself, once enough of it has slid out of the next."""
    if count <= limit:  # the last minute's share is what is over (so `before` > 0)
        return (1 - into / WINDOW - (limit - count) / before) * WINDOW
    kept = count - 1
    return WINDOW - into + max(0.0, 1 - (limit - 1) / kept) * WINDOW
