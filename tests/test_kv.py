import asyncio
from collections.abc import Awaitable, Callable

import pytest

from knowledge.kv.base import KeyValue, StoreUnavailable
from knowledge.kv.factory import open_store
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings
from tests.conftest import free_port
from tests.kv_helpers import FakeClock, assert_expires, pttl


async def test_get_returns_what_set_stored(store: KeyValue) -> None:
    assert await store.get("k") is None
    await store.set("k", "one")
    await store.set("k", "two")
    assert await store.get("k") == "two"


async def test_set_with_ttl_expires(store: KeyValue, clock: FakeClock) -> None:
    await store.set("k", "v", ttl=30)
    await assert_expires(store, clock, "k", 30)


async def test_set_without_ttl_never_expires(store: KeyValue, clock: FakeClock) -> None:
    await store.set("k", "v")
    clock.advance(10**9)
    assert await store.get("k") == "v"
    if isinstance(store, RedisStore):
        assert await pttl(store, "k") == -1


async def test_claim_is_true_once(store: KeyValue, clock: FakeClock) -> None:
    assert await store.claim("event:1", ttl=60) is True
    assert await store.claim("event:1", ttl=60) is False
    assert await store.claim("event:2", ttl=60) is True
    await assert_expires(store, clock, "event:1", 60)


async def test_concurrent_claims_have_one_winner(store: KeyValue) -> None:
    won = await asyncio.gather(*(store.claim("event:1", ttl=60) for _ in range(20)))
    assert won.count(True) == 1


async def test_claim_again_after_expiry(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    assert await store.claim("k", ttl=5)
    clock.advance(5)
    assert await store.claim("k", ttl=5)


async def test_incr_counts(store: KeyValue) -> None:
    assert [await store.incr("n", ttl=60) for _ in range(3)] == [1, 2, 3]
    assert await store.incr("m", ttl=60) == 1


async def test_incr_sets_expiry_only_on_creation(store: KeyValue, clock: FakeClock) -> None:
    await store.incr("n", ttl=10)
    await store.incr("n", ttl=1000)  # a later count must not stretch the window
    await assert_expires(store, clock, "n", 10)


async def test_counter_restarts_after_expiry(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    await store.incr("n", ttl=10)
    clock.advance(10)
    assert await store.incr("n", ttl=10) == 1


async def test_push_keeps_the_last_items_oldest_first(store: KeyValue) -> None:
    for value in "abcde":
        await store.push("list", value, ttl=60, keep=3)
    assert await store.items("list") == ["c", "d", "e"]


async def test_push_renews_expiry(store: KeyValue, clock: FakeClock) -> None:
    await store.push("list", "a", ttl=10, keep=5)
    await store.push("list", "b", ttl=60, keep=5)
    await assert_expires(store, clock, "list", 60)


async def test_items_of_absent_key_is_empty(store: KeyValue) -> None:
    assert await store.items("nothing") == []


@pytest.mark.parametrize(("count", "kept"), [(2, ["c", "d"]), (4, ["a", "b", "c", "d"]), (9, list("abcd"))])
async def test_keep_last(store: KeyValue, count: int, kept: list[str]) -> None:
    for value in "abcd":
        await store.push("list", value, ttl=60, keep=10)
    await store.keep_last("list", count)
    assert await store.items("list") == kept


async def test_keep_last_zero_empties(store: KeyValue) -> None:
    await store.push("list", "a", ttl=60, keep=10)
    await store.keep_last("list", 0)
    assert await store.items("list") == []
    await store.keep_last("absent", 0)
    await store.keep_last("absent", 3)
    assert await store.items("absent") == []


async def test_delete(store: KeyValue) -> None:
    await store.set("k", "v")
    await store.push("list", "a", ttl=60, keep=10)
    await store.delete("k")
    await store.delete("list")
    await store.delete("absent")
    assert await store.get("k") is None
    assert await store.items("list") == []


async def test_ping(store: KeyValue) -> None:
    await store.ping()  # raises StoreUnavailable when the store does not answer


OPERATIONS: dict[str, Callable[[KeyValue], Awaitable[object]]] = {
    "ping": lambda kv: kv.ping(),
    "get": lambda kv: kv.get("k"),
    "claim": lambda kv: kv.claim("k", ttl=5),
    "incr": lambda kv: kv.incr("k", ttl=5),
    "push": lambda kv: kv.push("k", "v", ttl=5, keep=3),
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_dead_redis_raises_store_unavailable_without_password(operation: str) -> None:
    store = RedisStore(f"redis://lore:secret@127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable) as failure:
        await OPERATIONS[operation](store)
    await store.close()
    assert "LORE_REDIS_URL" in str(failure.value)
    assert "secret" not in str(failure.value)


async def test_open_store_is_memory_without_redis_url(settings: Settings) -> None:
    store = open_store(settings)
    assert isinstance(store, MemoryStore)
    await store.close()


async def test_open_store_is_redis_with_redis_url(settings: Settings, redis_url: str) -> None:
    store = open_store(settings.model_copy(update={"redis_url": redis_url}))
    assert isinstance(store, RedisStore)
    await store.ping()
    await store.close()


async def test_hset_many_sets_several_fields_and_keeps_the_others(store: KeyValue) -> None:
    await store.hset("h", "a", "1")
    await store.hset_many("h", {"b": "2", "c": "3"})
    await store.hset_many("h", {"a": "9"})
    await store.hset_many("h", {})
    assert await store.hgetall("h") == {"a": "9", "b": "2", "c": "3"}
