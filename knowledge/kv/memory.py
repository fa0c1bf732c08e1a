"""The in-process store of embedded mode: one process, the same semantics as Redis (expiry included)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class MemoryStore:
    """`KeyValue` in a dict; expiry is checked on read, so nothing runs in the background."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._clock = clock
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._clock() >= expires:
            del self._data[key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._data[key] = (value, self._expiry(ttl))

    async def claim(self, key: str, ttl: float) -> bool:
        async with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = ("1", self._expiry(ttl))
            return True

    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        async with self._lock:
            current = self._live(key)
            if current is None:
                self._data[key] = (str(by), self._expiry(ttl))
                return by
            count = int(current) + by
            self._data[key] = (str(count), self._data[key][1])
            return count

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def push(self, key: str, value: str, ttl: float, keep: int) -> None:
        async with self._lock:
            current = self._live(key)
            items = list(current) if isinstance(current, list) else []
            items.append(value)
            self._data[key] = (items[-keep:], self._expiry(ttl))

    async def items(self, key: str) -> list[str]:
        value = self._live(key)
        return list(value) if isinstance(value, list) else []

    async def keep_last(self, key: str, count: int) -> None:
        async with self._lock:
            current = self._live(key)
            if isinstance(current, list):
                kept = current[-count:] if count else []
                self._data[key] = (kept, self._data[key][1])

    async def hset(self, key: str, field: str, value: str) -> None:
        await self.hset_many(key, {field: value})

    async def hset_many(self, key: str, fields: dict[str, str]) -> None:
        current = self._live(key)
        merged = dict(current) if isinstance(current, dict) else {}
        merged.update(fields)
        self._data[key] = (merged, None)

    async def hdel(self, key: str, field: str) -> None:
        current = self._live(key)
        if isinstance(current, dict):
            current.pop(field, None)

    async def hgetall(self, key: str) -> dict[str, str]:
        current = self._live(key)
        return dict(current) if isinstance(current, dict) else {}

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
