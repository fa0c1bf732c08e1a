"""The source registry: which sources Lore keeps in sync, how often, and how their last sync went.

One interface, two homes: Redis in production (one hash, shared by every bot and worker replica) and a JSON
file under `LORE_DATA_DIR` in embedded mode (replaced atomically). A source names its credentials (an
environment variable `LORE_SECRET_…` or a file inside LORE_SECRETS_DIR); the secret itself is read only when
a connector needs it, so it is never typed into Slack, stored in Redis or written to the registry file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Literal, Protocol

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from knowledge import keys
from knowledge.access import parse_acl
from knowledge.credentials import ENV_NAME as ENV_NAME
from knowledge.credentials import Credentials as Credentials
from knowledge.credentials import CredentialsError as CredentialsError
from knowledge.kinds.catalog import installed_kinds
from knowledge.kinds.contract import ConnectorKind
from knowledge.kinds.remote import REMOTE_KIND as REMOTE_KIND
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings

log = logging.getLogger(__name__)

MAX_ERRORS = 10  # recent document errors kept on a source's status
SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DEFAULT_KIND = "files"  # the kind of a source stored without one (before there were other kinds)


class Source(BaseModel):
    """A source to keep in sync. `every` is the seconds between syncs (0 = only when asked)."""

    id: str = Field(description="Lower-case name, e.g. handbook; also the source of its documents.")
    kind: str = Field(
        DEFAULT_KIND,
        description="A kind an installed package declares (`lore doctor` lists them): files, smb, "
        "mediawiki, confluence, web, lore-remote (federation), or a plug-in's.",
    )
    location: list[str] = Field(
        description="Where the source is, as its kind says: folders (files), smb:// shares, the wiki's "
        "api.php, Confluence's base URL, start URLs (web), the other Lore's base URL (lore-remote)."
    )
    access: list[str] = Field(
        description="Access strings of every document, unless an override applies; empty for kinds whose "
        "documents carry their own (smb, confluence)."
    )
    overrides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Prefix (folder, namespace number, URL path) -> access strings; the longest prefix wins.",
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="Settings of the kind, e.g. user, namespaces, spaces, max_pages."
    )
    ceiling: list[str] | None = Field(
        None,
        description="Access strings no document of the source is readable beyond (intersected with each "
        "document's acl): share-level permissions, a site behind a login. None = no ceiling.",
    )
    every: int = Field(3600, ge=0, description="Seconds between scheduled syncs; 0 = only when asked.")
    credentials: Credentials | None = Field(None, description="Where the source's secret is kept.")
    added_by: str = Field("", description="Slack user id of who added it, or 'cli'.")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError(
                f"invalid source id {value!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (e.g. handbook)"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a source needs a kind, e.g. files")
        return value.strip().lower()

    @field_validator("location")
    @classmethod
    def _location(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a source needs at least one location (an absolute folder or file)")
        return value

    @field_validator("access")
    @classmethod
    def _access(cls, value: list[str]) -> list[str]:
        return parse_acl(value) if value else []

    @field_validator("ceiling")
    @classmethod
    def _ceiling(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else parse_acl(value)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        clean: dict[str, list[str]] = {}
        for folder, acl in value.items():
            prefix = folder.strip().strip("/")
            if not prefix or ".." in prefix.split("/"):
                raise ValueError(f"invalid folder {folder!r}: give a folder inside the source, e.g. finance")
            clean[prefix] = parse_acl(acl)
        return clean

    _unfit: str | None = PrivateAttr(None)  # why a stored source no longer fits its kind's rules

    @property
    def unfit(self) -> str | None:
        """Why this stored source no longer fits the rules of its kind (the kind's package was upgraded and
        checks more, say), or None. Such a source still loads, with the others; it is not synced."""
        return self._unfit

    @model_validator(mode="after")
    def _fits_kind(self, info: ValidationInfo) -> Source:
        rules = installed_kinds().get(self.kind)
        if rules is None:  # a kind not installed (now) stays readable; syncing it fails with a clear status
            return self
        try:
            self.options = _fitted(self, rules)
        except ValueError as exc:
            if not (info.context or {}).get(STORED):
                raise
            self._unfit = str(exc)  # one stored source that no longer fits costs that source only
        return self


STORED = "stored"  # validation context of sources read back from a registry (`{STORED: True}`)


def _fitted(source: Source, rules: ConnectorKind) -> dict[str, str]:
    """The source's options checked by its kind's rules; ValueError says what does not fit and how."""
    wrong = [why for p in source.location if (why := rules.location_problem(p))]
    if wrong:
        raise ValueError("; ".join(wrong))
    if rules.single_location and len(source.location) != 1:
        raise ValueError(f"a {source.kind} source has one location: {rules.location_hint}")
    if rules.own_access and source.access:
        raise ValueError(
            f"a {source.kind} source takes its access from the source's own permissions: give no access, "
            "and map its accounts to Lore access in the directory file (LORE_DIRECTORY_FILE, accounts:)"
        )
    if not rules.own_access and not source.access:
        raise ValueError(
            f"no access given: a {source.kind} source needs access (public, group:NAME or user:EMAIL)"
        )
    if rules.credentials == "required" and source.credentials is None:
        raise ValueError(f"a {source.kind} source needs credentials (where its secret is kept)")
    if rules.credentials == "refused" and source.credentials is not None:
        raise ValueError(f"a {source.kind} source takes no credentials")
    if not rules.overrides and source.overrides:
        raise ValueError(f"a {source.kind} source takes no overrides")
    return rules.check_options(source.options)


def kind_warning(source: Source) -> str | None:
    """What stops `source` from syncing because of its kind, before a sync says so: no installed package
    declares the kind (or it fails to load), or the source no longer fits the kind's rules."""
    kinds = installed_kinds()
    if kinds.get(source.kind) is None:
        return kinds.missing(source.kind)
    if source.unfit:
        return (
            f"the source no longer fits the rules of kind {source.kind!r} ({source.unfit}): add it again "
            "with the same id and fixed settings, or remove it"
        )
    return None


class SourceStatus(BaseModel):
    """How the last sync of a source went, and whether one is queued or running now."""

    last_sync: float | None = Field(None, description="Unix time the last sync ended.")
    ok: bool | None = Field(None, description="None until the first sync.")
    summary: str = ""
    errors: list[str] = Field(default_factory=list, description=f"At most {MAX_ERRORS} recent errors.")
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = Field(0, description="Chunks the last sync wrote (0 when nothing changed).")
    indexed: int | None = Field(
        None, description="Chunks of the source in the index after its last sync; None: not counted."
    )

    @property
    def in_index(self) -> int:
        """What people read as the source's size: the index's count after the last sync (kept through a
        failed sync, which removes nothing), else the chunks the last sync wrote."""
        return self.chunks if self.indexed is None else self.indexed

    state: Literal["idle", "queued", "running"] = "idle"

    @field_validator("errors")
    @classmethod
    def _few_errors(cls, value: list[str]) -> list[str]:
        return value[:MAX_ERRORS]


class SourceRecord(BaseModel):
    """A source and its status, as stored."""

    source: Source
    status: SourceStatus = Field(default_factory=SourceStatus)

    def due(self, now: float) -> bool:
        """True when the source should be synced now."""
        if not self.source.every:
            return False
        last = self.status.last_sync
        return last is None or now - last >= self.source.every


class Registry(Protocol):
    """Where sources and their status are kept: Redis in production, a JSON file in embedded mode."""

    async def all(self) -> list[SourceRecord]:
        """Every registered source, by id."""
        ...

    async def get(self, source_id: str) -> SourceRecord | None:
        """One source and its status, or None."""
        ...

    async def put(self, source: Source) -> None:
        """Register a source, or change it (its status is kept)."""
        ...

    async def remove(self, source_id: str) -> None:
        """Forget a source (nothing happens for an unknown id)."""
        ...

    async def record(self, source_id: str, status: SourceStatus) -> None:
        """Store a source's status; nothing happens for an unknown id (it may just have been removed)."""
        ...


class _RegistryFile(BaseModel):
    """Everything the embedded registry file holds."""

    sources: dict[str, SourceRecord] = Field(default_factory=dict)


class FileRegistry:
    """The registry of embedded mode: one JSON file, replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> _RegistryFile:
        if not self.path.exists():
            return _RegistryFile()
        text = self.path.read_text(encoding="utf-8")
        return _RegistryFile.model_validate_json(text, context={STORED: True})

    def _write(self, registry: _RegistryFile) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(registry.model_dump_json(indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    async def all(self) -> list[SourceRecord]:
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
        return [registry.sources[k] for k in sorted(registry.sources)]

    async def get(self, source_id: str) -> SourceRecord | None:
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
        return registry.sources.get(source_id)

    async def put(self, source: Source) -> None:
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            old = registry.sources.get(source.id)
            registry.sources[source.id] = SourceRecord(
                source=source, status=old.status if old else SourceStatus()
            )
            await asyncio.to_thread(self._write, registry)

    async def remove(self, source_id: str) -> None:
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            if registry.sources.pop(source_id, None) is not None:
                await asyncio.to_thread(self._write, registry)

    async def record(self, source_id: str, status: SourceStatus) -> None:
        async with self._lock:
            registry = await asyncio.to_thread(self._read)
            found = registry.sources.get(source_id)
            if found is None:
                return
            found.status = status
            await asyncio.to_thread(self._write, registry)


class StoreRegistry:
    """The registry of production: one hash on the shared store (field = source id, value = record JSON).

    Every replica reads the same hash. Changes are read-modify-write of one field: two admins changing the
    same source at the same instant keep the later change, which is all a registry of a few sources needs.
    """

    def __init__(self, store: KeyValue) -> None:
        self.store = store
        self._lock = asyncio.Lock()  # one change at a time from this process

    @staticmethod
    def _parse(source_id: str, text: str) -> SourceRecord | None:
        try:
            return SourceRecord.model_validate_json(text, context={STORED: True})
        except ValidationError:
            log.error("registry entry %r in %s is unreadable; skipped", source_id, keys.sources())
            return None

    async def _records(self) -> dict[str, SourceRecord]:
        found = await self.store.hgetall(keys.sources())
        parsed = {k: self._parse(k, v) for k, v in found.items()}
        return {k: r for k, r in parsed.items() if r is not None}

    async def all(self) -> list[SourceRecord]:
        records = await self._records()
        return [records[k] for k in sorted(records)]

    async def get(self, source_id: str) -> SourceRecord | None:
        text = (await self.store.hgetall(keys.sources())).get(source_id)
        return None if text is None else self._parse(source_id, text)

    async def put(self, source: Source) -> None:
        async with self._lock:
            old = await self.get(source.id)
            record = SourceRecord(source=source, status=old.status if old else SourceStatus())
            await self.store.hset(keys.sources(), source.id, record.model_dump_json())

    async def remove(self, source_id: str) -> None:
        async with self._lock:
            await self.store.hdel(keys.sources(), source_id)

    async def record(self, source_id: str, status: SourceStatus) -> None:
        async with self._lock:
            found = await self.get(source_id)
            if found is None:
                return
            found.status = status
            await self.store.hset(keys.sources(), source_id, found.model_dump_json())


def open_registry(settings: Settings, store: KeyValue | None = None) -> Registry:
    """Redis (`store`, or one on `LORE_REDIS_URL`) when Redis is configured, else the file under the data dir.

    A store passed in stays its owner's to close; one opened here lives as long as the process.
    """
    if settings.redis_url:
        return StoreRegistry(store or RedisStore(settings.redis_url))
    return FileRegistry(settings.data_dir / "sources.json")
