"""Who is calling the Knowledge API: the bearer key, checked against the key store, and its rate limit."""

from __future__ import annotations

import time

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

    def __init__(self, api_keys: ApiKeys, store: KeyValue, directory: DirectoryFile | None = None) -> None:
        self.api_keys = api_keys
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
        """Count one request of `key` in this minute's window (shared by every replica, the HTTP API and
        MCP); the refusal when that goes over the key's rate limit."""
        if not key.rate_limit:
            return None
        now = time.time()
        window = int(now // WINDOW)
        count = await self.store.incr(keys.api_rate(key.id, window), WINDOW * 2)
        if count <= key.rate_limit:
            return None
        return Refusal(
            status=429,
            code="rate_limited",
            message=f"this key may make {key.rate_limit} requests a minute; wait and try again, "
            "or ask an admin for a key with a higher limit",
            retry_after=max(1, int((window + 1) * WINDOW - now) + 1),
        )
