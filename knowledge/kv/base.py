"""The key-value contract that Redis and the in-process store both keep, and its one error."""

from __future__ import annotations

from typing import Protocol


class StoreUnavailable(RuntimeError):
    """The state store (Redis) cannot be reached or failed; the message says what to check."""


class KeyValue(Protocol):
    """Strings under keys with expiry, plus the few atomic operations the bot needs across replicas."""

    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value`; it expires after `ttl` seconds (None = never)."""
        ...

    async def claim(self, key: str, ttl: float) -> bool:
        """Set `key` only if it is absent (atomically, across replicas); True iff this call set it."""
        ...

    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        """Add `by` (one unless told) and return the new count; a new counter expires after `ttl` seconds."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        ...

    async def push(self, key: str, value: str, ttl: float, keep: int) -> None:
        """Append to the list at `key`, keep its last `keep` items and renew its expiry."""
        ...

    async def items(self, key: str) -> list[str]:
        """The list at `key`, oldest first (empty when absent)."""
        ...

    async def keep_last(self, key: str, count: int) -> None:
        """Drop all but the last `count` items of the list at `key` (0 = all)."""
        ...

    async def hset(self, key: str, field: str, value: str) -> None:
        """Set one field of the hash at `key` (hashes never expire)."""
        ...

    async def hset_many(self, key: str, fields: dict[str, str]) -> None:
        """Set several fields of the hash at `key` in one step."""
        ...

    async def hdel(self, key: str, field: str) -> None:
        """Remove one field of the hash at `key`."""
        ...

    async def hgetall(self, key: str) -> dict[str, str]:
        """Every field of the hash at `key` (empty when absent)."""
        ...

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
