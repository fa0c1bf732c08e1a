"""The source registry on both homes (a JSON file, a real Redis), and what a Source accepts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from ingestion.connectors.base import ListingError
from ingestion.connectors.registry import connector_for
from knowledge import keys
from knowledge.kv.memory import MemoryStore
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import (
    MAX_ERRORS,
    Credentials,
    CredentialsError,
    FileRegistry,
    Registry,
    Source,
    SourceRecord,
    SourceStatus,
    StoreRegistry,
    open_registry,
)
from tests.conftest import flushed_redis

SECRET = "s3cr3t-t0ken-value"


def wiki(source_id: str = "wiki", **changes: object) -> Source:
    return Source.model_validate(
        {"id": source_id, "location": ["/srv/wiki"], "access": ["public"], **changes}
    )


@pytest.fixture(params=["file", "redis"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Registry]:
    """The embedded registry in a fresh file, and the production one on a flushed real Redis."""
    if request.param == "file":
        yield FileRegistry(tmp_path / "data" / "sources.json")
        return
    store = await flushed_redis(request.getfixturevalue("redis_url"))
    yield StoreRegistry(store)
    await store.close()


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def stored_text(registry: Registry) -> str:
    """Everything the registry wrote, raw: the file, or the Redis hash read by a client of its own."""
    if isinstance(registry, FileRegistry):
        return registry.path.read_text(encoding="utf-8")
    assert isinstance(registry, StoreRegistry) and isinstance(registry.store, RedisStore)
    raw = aioredis.Redis.from_url(registry.store.url, decode_responses=True)
    try:
        return repr(await raw.hgetall(keys.sources()))  # type: ignore[misc]
    finally:
        await raw.aclose()


async def test_put_get_and_all_sorted_by_id(registry: Registry) -> None:
    for name in ("wiki", "handbook", "finance"):
        await registry.put(wiki(name))
    assert [r.source.id for r in await registry.all()] == ["finance", "handbook", "wiki"]
    found = await registry.get("handbook")
    assert found is not None and found.source == wiki("handbook") and found.status == SourceStatus()
    assert await registry.get("nope") is None


async def test_record_stores_the_status_and_put_keeps_it(registry: Registry) -> None:
    await registry.put(wiki())
    status = SourceStatus(last_sync=5.0, ok=True, summary="wiki: 2 added", added=2, chunks=7)
    await registry.record("wiki", status)
    assert (await registry.get("wiki")) == SourceRecord(source=wiki(), status=status)
    await registry.put(wiki(access=["group:eng"], every=0))
    found = await registry.get("wiki")
    assert found is not None and found.source.access == ["group:eng"] and found.status == status


async def test_remove_forgets_and_unknown_ids_are_no_ops(registry: Registry) -> None:
    await registry.put(wiki())
    await registry.put(wiki("handbook"))
    await registry.remove("wiki")
    await registry.remove("never-added")
    await registry.record("wiki", SourceStatus(ok=True))  # removed meanwhile: not brought back
    assert [r.source.id for r in await registry.all()] == ["handbook"]
    assert await registry.get("wiki") is None


async def test_no_secret_is_ever_stored(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORE_SECRET_CONFLUENCE", SECRET)
    await registry.put(wiki(credentials={"env": "LORE_SECRET_CONFLUENCE"}))
    await registry.record("wiki", SourceStatus(ok=True))
    found = await registry.get("wiki")
    assert found is not None and found.source.credentials is not None
    assert found.source.credentials.resolve(None) == SECRET
    text = await stored_text(registry)
    assert "LORE_SECRET_CONFLUENCE" in text and SECRET not in text


async def test_replicas_on_one_redis_see_the_same_sources(redis_url: str) -> None:
    first, second = await flushed_redis(redis_url), RedisStore(redis_url)
    try:
        await StoreRegistry(first).put(wiki())
        await StoreRegistry(second).record("wiki", SourceStatus(ok=False, summary="listing failed: gone"))
        [record] = await StoreRegistry(first).all()
        assert record.source == wiki() and record.status.summary == "listing failed: gone"
    finally:
        await first.close()
        await second.close()


async def test_the_file_registry_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sources.json"
    await FileRegistry(path).put(wiki(overrides={"/finance/": ["Group:Finance"]}))
    await FileRegistry(path).record("wiki", SourceStatus(ok=True, summary="wiki: 1 added"))
    [record] = await FileRegistry(path).all()
    assert record.source.overrides == {"finance": ["group:finance"]}
    assert record.status.summary == "wiki: 1 added"
    assert names_in(tmp_path) == ["sources.json"]  # no temporary file left behind


async def test_open_registry_follows_the_settings(settings: Settings, redis_url: str) -> None:
    embedded = open_registry(settings)
    assert isinstance(embedded, FileRegistry) and embedded.path == settings.data_dir / "sources.json"
    production = open_registry(settings.model_copy(update={"redis_url": redis_url}))
    assert isinstance(production, StoreRegistry) and isinstance(production.store, RedisStore)
    await production.store.close()
    given = MemoryStore()
    shared = open_registry(settings.model_copy(update={"redis_url": redis_url}), given)
    assert isinstance(shared, StoreRegistry) and shared.store is given


def test_due_follows_every_and_the_last_sync() -> None:
    assert SourceRecord(source=wiki(every=60)).due(0.0)
    synced = SourceStatus(last_sync=100.0)
    assert not SourceRecord(source=wiki(every=60), status=synced).due(159.0)
    assert SourceRecord(source=wiki(every=60), status=synced).due(160.0)
    assert not SourceRecord(source=wiki(every=0)).due(10**12)


@pytest.mark.parametrize("bad", ["", "Wiki", "-wiki", "wi ki", "wiki/x", "a" * 65])
def test_source_ids_are_checked(bad: str) -> None:
    with pytest.raises(ValidationError, match="invalid source id"):
        wiki(bad)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"access": []}, "no access given"),
        ({"access": ["everyone"]}, "invalid access"),
        ({"location": []}, "at least one location"),
        ({"location": ["relative/wiki"]}, "must be absolute"),
        ({"overrides": {"../up": ["public"]}}, "invalid folder"),
        ({"every": -1}, "greater than or equal"),
    ],
)
def test_sources_say_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        wiki("wiki", **changes)


def test_access_is_normalised() -> None:
    source = wiki(access=["Group:Eng", "public", "public"], overrides={"hr": ["USER:Ana@Example.com"]})
    assert source.access == ["group:eng", "public"]
    assert source.overrides == {"hr": ["user:ana@example.com"]}


def test_status_keeps_only_the_first_errors() -> None:
    status = SourceStatus(errors=[f"doc{i}.md: unreadable" for i in range(MAX_ERRORS + 5)])
    assert len(status.errors) == MAX_ERRORS and status.errors[0] == "doc0.md: unreadable"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "exactly one"),
        ({"env": "TOKEN", "file": "/run/secrets/token"}, "exactly one"),
        ({"env": "xoxb-1234-secret"}, "NAME of an environment variable"),
        ({"env": "1TOKEN"}, "NAME of an environment variable"),
        ({"file": "secrets/token"}, "absolute path"),
    ],
)
def test_credentials_are_a_reference(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Credentials.model_validate(given)


def test_credentials_resolve_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORE_SECRET_WIKI", SECRET)
    assert Credentials(env="LORE_SECRET_WIKI").resolve(None) == SECRET
    monkeypatch.delenv("LORE_SECRET_WIKI")
    with pytest.raises(CredentialsError, match="LORE_SECRET_WIKI is not set"):
        Credentials(env="LORE_SECRET_WIKI").resolve(None)


def test_credentials_resolve_from_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(SECRET + "\n")
    assert Credentials(file=str(secret)).resolve(tmp_path) == SECRET
    with pytest.raises(CredentialsError, match=re.escape(f"cannot read secret file {tmp_path / 'missing'}")):
        Credentials(file=str(tmp_path / "missing")).resolve(tmp_path)
    secret.write_text("\n")
    with pytest.raises(CredentialsError, match="is empty"):
        Credentials(file=str(secret)).resolve(tmp_path)


async def store_raw(registry: Registry, record: dict[str, object]) -> None:
    """Write a record as an earlier Lore (or a hand) left it, past today's checks."""
    source = record["source"]
    assert isinstance(source, dict)
    if isinstance(registry, FileRegistry):
        registry.path.parent.mkdir(parents=True, exist_ok=True)
        registry.path.write_text(json.dumps({"sources": {source["id"]: record}}), encoding="utf-8")
        return
    assert isinstance(registry, StoreRegistry)
    await registry.store.hset(keys.sources(), str(source["id"]), json.dumps(record))


async def test_a_stored_source_that_no_longer_fits_its_kind_loads_and_is_held_back(
    registry: Registry, tmp_path: Path
) -> None:
    """A kind's rules may tighten (its package upgraded): a stored source that no longer fits still loads,
    with the others, says why, and is not synced; a new source is still held to the rules."""
    fits = {"id": "wiki", "kind": "mediawiki", "location": ["https://wiki.example.com/w/api.php"]}
    record = {"source": {**fits, "access": ["public"], "options": {"namespaces": "main"}}}
    await store_raw(registry, record)
    await registry.put(wiki("handbook"))
    stored = {r.source.id: r.source for r in await registry.all()}
    assert sorted(stored) == ["handbook", "wiki"]
    assert stored["wiki"].unfit is not None and "invalid namespaces 'main'" in stored["wiki"].unfit
    assert stored["handbook"].unfit is None  # the control: a source that fits
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert "no longer fits the rules of kind 'mediawiki'" in refusals(stored["wiki"], settings)["kind"]
    assert refusals(stored["handbook"], settings) == {}
    with pytest.raises(ListingError, match="add it again with the same id"):
        connector_for(stored["wiki"], settings)
    await registry.record("wiki", SourceStatus(summary="wiki: listing failed"))
    again = await registry.get("wiki")
    assert again is not None and again.source.options == {"namespaces": "main"}  # kept as it was
    with pytest.raises(ValidationError, match="invalid namespaces"):
        Source.model_validate(record["source"])
