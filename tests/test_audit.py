"""The audit log on both homes: a JSONL file (embedded) and a real Redis (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knowledge import keys
from knowledge.audit import TTL, AuditEntry, AuditLog, FileAudit, StoreAudit, open_audit
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings
from tests.conftest import flushed_redis
from tests.kv_helpers import pttl


def entry(n: int, action: str = "add") -> AuditEntry:
    return AuditEntry(at=1000.0 + n, who="U0ADMIN", action=action, target=f"source{n}", detail="every 3600 s")


@pytest.fixture(params=["file", "redis"])
async def audit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditLog]:
    """The embedded log in a fresh file, and the production one on a flushed real Redis."""
    if request.param == "file":
        yield FileAudit(tmp_path / "data" / "audit.jsonl")
        return
    store = await flushed_redis(request.getfixturevalue("redis_url"))
    yield StoreAudit(store)
    await store.close()


async def test_an_empty_log_has_no_entries(audit: AuditLog) -> None:
    assert await audit.latest() == []


async def test_latest_is_newest_first_and_limited(audit: AuditLog) -> None:
    for n in range(30):
        await audit.record(entry(n))
    assert [e.target for e in await audit.latest(3)] == ["source29", "source28", "source27"]
    assert len(await audit.latest()) == 20
    assert len(await audit.latest(100)) == 30
    assert await audit.latest(0) == []
    assert (await audit.latest(1))[0] == entry(29)


async def test_the_file_log_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    await FileAudit(path).record(entry(1))
    await FileAudit(path).record(entry(2, "remove"))
    assert [e.action for e in await FileAudit(path).latest()] == ["remove", "add"]


async def test_the_file_log_reads_its_tail_across_blocks(tmp_path: Path) -> None:
    log = FileAudit(tmp_path / "audit.jsonl")
    long = "x" * 5000  # entries far larger than a block boundary's share
    for n in range(40):
        await log.record(entry(n).model_copy(update={"detail": long}))
    latest = await log.latest(25)
    assert [e.target for e in latest] == [f"source{n}" for n in range(39, 14, -1)]
    assert all(e.detail == long for e in latest)


async def test_an_unreadable_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    await FileAudit(path).record(entry(1))
    with path.open("a", encoding="utf-8") as out:  # a torn write, as after a crash
        out.write('{"at": 1, "who"\n')
    await FileAudit(path).record(entry(2))
    assert [e.target for e in await FileAudit(path).latest()] == ["source2", "source1"]


async def test_replicas_share_the_redis_log_which_expires_in_a_year(redis_url: str) -> None:
    first, second = await flushed_redis(redis_url), RedisStore(redis_url)
    try:
        await StoreAudit(first).record(entry(1))
        await StoreAudit(second).record(entry(2, "sync"))
        assert [e.action for e in await StoreAudit(first).latest()] == ["sync", "add"]
        assert TTL * 1000 - 1000 < await pttl(first, keys.audit()) <= TTL * 1000
    finally:
        await first.close()
        await second.close()


async def test_open_audit_follows_the_settings(settings: Settings, redis_url: str) -> None:
    embedded = open_audit(settings)
    assert isinstance(embedded, FileAudit) and embedded.path == settings.data_dir / "audit.jsonl"
    production = open_audit(settings.model_copy(update={"redis_url": redis_url}))
    assert isinstance(production, StoreAudit) and isinstance(production.store, RedisStore)
    await production.store.close()
