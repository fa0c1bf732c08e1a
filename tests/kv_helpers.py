"""Both key-value stores for tests, with time under the test's control (a fake clock, or Redis's PTTL)."""

from __future__ import annotations

import redis.asyncio as aioredis

from knowledge.kv.base import KeyValue
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from tests.conftest import flushed_redis


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def open_kv(backend: str, clock: FakeClock, redis_url: str) -> KeyValue:
    """A MemoryStore on `clock`, or a RedisStore on an emptied database."""
    return MemoryStore(clock=clock) if backend == "memory" else await flushed_redis(redis_url)


async def pttl(store: RedisStore, key: str) -> int:
    """Milliseconds until `key` expires (-1: never, -2: absent), read with a client of its own."""
    raw = aioredis.Redis.from_url(store.url)
    try:
        return int(await raw.pttl(key))
    finally:
        await raw.aclose()


async def present(store: KeyValue, key: str) -> bool:
    """True while `key` holds a string or a non-empty list."""
    return await store.get(key) is not None or bool(await store.items(key))


async def assert_expires(store: KeyValue, clock: FakeClock, key: str, ttl: float) -> None:
    """`key` lives `ttl` seconds: Redis reports the expiry (no waiting), the fake clock is moved past it."""
    if isinstance(store, RedisStore):
        assert ttl * 1000 - 1000 < await pttl(store, key) <= ttl * 1000
        return
    clock.advance(ttl - 0.01)
    assert await present(store, key)
    clock.advance(0.02)
    assert not await present(store, key)
