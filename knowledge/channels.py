"""How Lore answers in one Slack channel, as its admins set it up (`/lore channel …`): which sources the
channel answers from, whether Lore answers every question there or only when mentioned, whether answers
go only to the asker (ephemeral) by default, and a prompt preset (tone, language) for the LLM.

Kept beside the source registry: a hash on Redis (`lore:channels`) when `LORE_REDIS_URL` is set, else
`LORE_DATA_DIR/channels.json`. A channel without a setup answers as Lore always does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from knowledge import keys
from knowledge.kv.base import KeyValue
from knowledge.settings import Settings

log = logging.getLogger(__name__)

PRESET_CHARS = 500
Answers = Literal["mentions", "questions"]


class ChannelSetup(BaseModel):
    """One channel's setup; its defaults are Lore's behaviour without one."""

    channel: str = Field(pattern=r"^[CG][A-Z0-9]{2,30}$")
    sources: list[str] = []  # empty: every source
    answers: Answers = "mentions"  # "questions": also every question asked in the channel
    private: bool = False  # answers go to the asker only (ephemeral), who may share them
    preset: str = Field("", max_length=PRESET_CHARS)  # added to the LLM's instructions (tone, language)
    set_by: str = ""
    at: float = 0.0

    @property
    def default(self) -> bool:
        """True when it changes nothing (then it is not kept)."""
        return not self.sources and self.answers == "mentions" and not self.private and not self.preset


class ChannelSetups(Protocol):
    """Where channel setups are kept."""

    async def get(self, channel: str) -> ChannelSetup | None: ...

    async def put(self, setup: ChannelSetup) -> None:
        """Keep `setup` (a default one is deleted instead)."""
        ...

    async def all(self) -> list[ChannelSetup]: ...


class StoreChannelSetups:
    """One hash on the shared store: field = channel id, value = the setup's JSON."""

    def __init__(self, store: KeyValue) -> None:
        self.store = store

    async def get(self, channel: str) -> ChannelSetup | None:
        return _parsed(channel, (await self.store.hgetall(keys.channels())).get(channel))

    async def put(self, setup: ChannelSetup) -> None:
        if setup.default:
            await self.store.hdel(keys.channels(), setup.channel)
        else:
            await self.store.hset(keys.channels(), setup.channel, setup.model_dump_json())

    async def all(self) -> list[ChannelSetup]:
        found = await self.store.hgetall(keys.channels())
        parsed = (_parsed(channel, text) for channel, text in sorted(found.items()))
        return [setup for setup in parsed if setup is not None]


class FileChannelSetups:
    """`channels.json` in the data dir (one process): replaced atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("%s is unreadable (%s): channels answer as without a setup", self.path, exc)
            return {}
        return {str(k): json.dumps(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def _write(self, setups: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=".channels-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({k: json.loads(v) for k, v in sorted(setups.items())}, out, indent=1)
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    async def get(self, channel: str) -> ChannelSetup | None:
        async with self._lock:
            return _parsed(channel, self._read().get(channel))

    async def put(self, setup: ChannelSetup) -> None:
        async with self._lock:
            setups = self._read()
            if setup.default:
                setups.pop(setup.channel, None)
            else:
                setups[setup.channel] = setup.model_dump_json()
            self._write(setups)

    async def all(self) -> list[ChannelSetup]:
        async with self._lock:
            parsed = (_parsed(channel, text) for channel, text in sorted(self._read().items()))
            return [setup for setup in parsed if setup is not None]


def open_channel_setups(settings: Settings, store: KeyValue | None) -> ChannelSetups:
    """On the shared store when Redis is configured (and given), else the file in the data dir."""
    if settings.redis_url and store is not None:
        return StoreChannelSetups(store)
    return FileChannelSetups(settings.data_dir / "channels.json")


def _parsed(channel: str, text: str | None) -> ChannelSetup | None:
    if text is None:
        return None
    try:
        return ChannelSetup.model_validate_json(text)
    except ValidationError:
        log.error("the setup of channel %s is unreadable: it answers as without one", channel)
        return None
