"""API keys: what lets a program or an AI agent ask Lore, and as whom.

Each key carries a principal set by the admin who created it (access strings) and a rate limit. Only the
SHA-256 of a key is stored: the key itself is shown once, when it is created. A key reads
`lore_<id>_<secret>`; the id finds the record, the hash proves the secret. One interface, two homes, like
the source registry: a Redis hash in production, a JSON file under `LORE_DATA_DIR` in embedded mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError, field_validator

from knowledge import keys
from knowledge.access import PUBLIC, Principal, parse_acl
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.settings import Settings

log = logging.getLogger(__name__)

KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEY = re.compile(r"^lore_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")


class ApiKeyError(ValueError):
    """A key request Lore cannot carry out; the message says what to write instead."""


class ApiKey(BaseModel):
    """One API key as stored (never the key itself)."""

    id: str = Field(description="12 hex digits; the part of the key after `lore_`.")
    name: str = Field(description="What the key is for, e.g. support-agent.")
    grants: list[str] = Field(description="The key's principal: access strings, `public` always among them.")
    rate_limit: int = Field(ge=0, description="Requests per minute; 0 = no limit.")
    digest: str = Field(description="SHA-256 of the whole key, hex.")
    created_at: float
    created_by: str = ""
    revoked_at: float | None = None

    @field_validator("grants")
    @classmethod
    def _grants(cls, value: list[str]) -> list[str]:
        return parse_acl([*value, PUBLIC])

    @property
    def principal(self) -> Principal:
        """Who the key asks as."""
        return Principal(grants=frozenset(self.grants))

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_at is None


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh (id, whole key)."""
    key_id = secrets.token_hex(6)
    return key_id, f"lore_{key_id}_{secrets.token_urlsafe(32)}"


def check_name(name: str) -> str:
    """A valid key name, or `ApiKeyError` saying what to write."""
    if not KEY_NAME.match(name):
        raise ApiKeyError(
            f"invalid key name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-' "
            "(e.g. support-agent)"
        )
    return name


class KeyRecords(Protocol):
    """Where key records live: field = key id, value = the record's JSON."""

    async def load(self) -> dict[str, str]:
        """Every record."""
        ...

    async def save(self, key_id: str, record: str) -> None:
        """Store one record."""
        ...


class StoreRecords:
    """Key records in one hash of the shared store (Redis), read by every replica."""

    def __init__(self, store: KeyValue) -> None:
        self.store = store

    async def load(self) -> dict[str, str]:
        return await self.store.hgetall(keys.apikeys())

    async def save(self, key_id: str, record: str) -> None:
        await self.store.hset(keys.apikeys(), key_id, record)


class FileRecords:
    """Key records in one JSON file (embedded mode), replaced atomically, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    async def load(self) -> dict[str, str]:
        return await asyncio.to_thread(self._read)

    async def save(self, key_id: str, record: str) -> None:
        def change() -> None:
            data = self._read()
            data[key_id] = record
            self._write(data)

        await asyncio.to_thread(change)


class ApiKeys:
    """Create, list, revoke and verify API keys."""

    def __init__(self, records: KeyRecords) -> None:
        self.records = records
        self._lock = asyncio.Lock()

    async def all(self) -> list[ApiKey]:
        """Every key ever created (revoked ones too), oldest first."""
        found = []
        for key_id, text in (await self.records.load()).items():
            try:
                found.append(ApiKey.model_validate_json(text))
            except ValidationError:
                log.error("API key record %s is unreadable; it is ignored (no access)", key_id)
        return sorted(found, key=lambda k: (k.created_at, k.id))

    async def create(
        self, name: str, grants: list[str], rate_limit: int, created_by: str
    ) -> tuple[ApiKey, str]:
        """A new key for `grants`; returns its record and the key itself (shown once, never stored)."""
        name = check_name(name)
        async with self._lock:
            if any(k.name == name and k.active for k in await self.all()):
                raise ApiKeyError(
                    f"an active key named {name!r} exists: revoke it first, or choose another name"
                )
            key_id, key = new_key()
            record = ApiKey(
                id=key_id,
                name=name,
                grants=grants,
                rate_limit=rate_limit,
                digest=digest(key),
                created_at=time.time(),
                created_by=created_by,
            )
            await self.records.save(key_id, record.model_dump_json())
        return record, key

    async def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the active key with this name or id; `ApiKeyError` when there is none."""
        async with self._lock:
            for record in await self.all():
                if record.active and name_or_id in (record.name, record.id):
                    record.revoked_at = time.time()
                    await self.records.save(record.id, record.model_dump_json())
                    return record
        raise ApiKeyError(f"no active API key named {name_or_id!r}: `lore apikey list` shows them")

    async def verify(self, key: str) -> ApiKey | None:
        """The active key `key` is, or None (unknown, malformed, revoked or wrong secret)."""
        match = _KEY.match(key.strip())
        if match is None:
            return None
        text = (await self.records.load()).get(match.group(1))
        if text is None:
            return None
        try:
            record = ApiKey.model_validate_json(text)
        except ValidationError:
            return None
        if not hmac.compare_digest(record.digest, digest(key.strip())):
            return None
        return record if record.active else None


def open_keys(settings: Settings, store: KeyValue | None = None) -> ApiKeys:
    """The keys on Redis (`store`, or one on `LORE_REDIS_URL`) when Redis is configured, else in a file."""
    if settings.redis_url:
        return ApiKeys(StoreRecords(store or RedisStore(settings.redis_url)))
    return ApiKeys(FileRecords(settings.data_dir / "apikeys.json"))
