"""The configured store: Redis when `LORE_REDIS_URL` is set, else in-process."""

from __future__ import annotations

from knowledge.kv.base import KeyValue
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings


def open_store(settings: Settings) -> KeyValue:
    """Redis for several replicas; the in-process store for one laptop."""
    return RedisStore(settings.redis_url) if settings.redis_url else MemoryStore()
