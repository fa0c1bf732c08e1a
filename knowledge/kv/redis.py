"""The Redis store of production: shared by every bot and worker replica."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from knowledge.kv.base import StoreUnavailable

T = TypeVar("T")

TIMEOUT = 3.0  # seconds: a slow Redis must not hold a question for long


class RedisStore:
    """`KeyValue` on Redis; every failure becomes `StoreUnavailable` with the URL to check."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        self.url = url
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )

    async def _call(self, action: Callable[[], Awaitable[T]]) -> T:
        try:
            return await action()
        except (RedisError, OSError) as exc:
            where = self.url.split("@")[-1]  # never log the password of redis://user:pass@host
            raise StoreUnavailable(
                f"Redis at {where} failed ({type(exc).__name__}): check LORE_REDIS_URL and that Redis runs"
            ) from exc

    async def get(self, key: str) -> str | None:
        value: Any = await self._call(lambda: self._redis.get(key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        px = None if ttl is None else max(1, int(ttl * 1000))
        await self._call(lambda: self._redis.set(key, value, px=px))

    async def claim(self, key: str, ttl: float) -> bool:
        done = await self._call(lambda: self._redis.set(key, "1", nx=True, px=max(1, int(ttl * 1000))))
        return bool(done)

    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        async def run() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, by)
                pipe.expire(key, max(1, int(ttl)), nx=True)
                count, _ = await pipe.execute()
            return int(count)

        return await self._call(run)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._redis.delete(key))

    async def push(self, key: str, value: str, ttl: float, keep: int) -> None:
        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, value)
                pipe.ltrim(key, -keep, -1)
                pipe.expire(key, max(1, int(ttl)))
                await pipe.execute()

        await self._call(run)

    async def items(self, key: str) -> list[str]:
        values: Any = await self._call(lambda: cast(Awaitable[Any], self._redis.lrange(key, 0, -1)))
        return [str(v) for v in values]

    async def keep_last(self, key: str, count: int) -> None:
        if count:
            await self._call(lambda: cast(Awaitable[Any], self._redis.ltrim(key, -count, -1)))
        else:
            await self.delete(key)

    # redis-py types hash commands as "Awaitable[T] | T" (sync and async share stubs): awaited as Any here

    async def hset(self, key: str, field: str, value: str) -> None:
        await self._call(lambda: cast(Awaitable[Any], self._redis.hset(key, field, value)))

    async def hset_many(self, key: str, fields: dict[str, str]) -> None:
        if fields:
            await self._call(lambda: cast(Awaitable[Any], self._redis.hset(key, mapping=fields)))

    async def hdel(self, key: str, field: str) -> None:
        await self._call(lambda: cast(Awaitable[Any], self._redis.hdel(key, field)))

    async def hgetall(self, key: str) -> dict[str, str]:
        values: Any = await self._call(lambda: cast(Awaitable[Any], self._redis.hgetall(key)))
        return {str(k): str(v) for k, v in values.items()}

    async def ping(self) -> None:
        await self._call(lambda: self._redis.ping())  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._redis.aclose()
