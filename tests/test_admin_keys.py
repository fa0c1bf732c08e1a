"""`/lore apikey create|list|revoke` over real HTTP: only admins manage keys, a new key is shown once and only
to its creator (never in a channel, the audit log or a log line), every change is audited."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from qdrant_client import AsyncQdrantClient

from knowledge import keys as store_keys
from knowledge.apikeys import ApiKeys, StoreRecords
from knowledge.audit import StoreAudit
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.server import ServerIndex
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import BOB, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

CARL_ADMIN = "UCARL"
KEY = re.compile(r"lore_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
DEFAULT_RATE = 45


@dataclass
class Lore:
    bot: Bot
    keys: ApiKeys
    audit: StoreAudit
    store: KeyValue

    async def said(self, user: str, text: str) -> str:
        """The text of Lore's (single, ephemeral) answer to `/lore <text>`."""
        [reply] = await self.bot.replies(await self.bot.command(user, text))
        assert reply["response_type"] == "ephemeral"
        return str(reply["text"])

    async def created(self, text: str) -> str:
        """The key in the answer to `/lore apikey create …` by an admin."""
        found = KEY.search(await self.said(CARL_ADMIN, text))
        assert found is not None
        return found.group(0)

    async def unchanged(self) -> None:
        assert await self.keys.all() == []
        assert await self.audit.latest() == []


@pytest.fixture
async def empty_kb(settings: Settings, embedder: CachedEmbedder) -> AsyncIterator[Knowledge]:
    """A knowledge base with nothing in it: API keys need no documents (and no embedding model)."""
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    kb = Knowledge(settings, index, embedder)
    yield kb
    await kb.answerer.close()
    await index.close()


@pytest.fixture
async def lore(
    empty_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> AsyncIterator[Lore]:
    api_keys, audit = ApiKeys(StoreRecords(store)), StoreAudit(store)
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN], api_rate_limit=DEFAULT_RATE)
    async with bot_harness(empty_kb, [store], tuned, slack, audit=audit, keys=api_keys) as bot:
        yield Lore(bot, api_keys, audit, store)


async def test_an_admin_creates_a_key_that_verifies_with_its_grants(lore: Lore) -> None:
    text = "apikey create support-agent access=group:support,user:ana@example.com rate=120"
    record = await lore.keys.verify(await lore.created(text))
    assert record is not None and record.name == "support-agent" and record.created_by == CARL_ADMIN
    assert record.grants == ["group:support", "public", "user:ana@example.com"]
    assert record.rate_limit == 120


async def test_the_key_is_shown_once_only_to_its_creator(
    lore: Lore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = await lore.bot.command(CARL_ADMIN, "apikey create support-agent access=group:support")
    [reply] = await lore.bot.replies(name)
    assert reply["response_type"] == "ephemeral"
    assert "only time the key is shown" in reply["text"] and "Authorization: Bearer <key>" in reply["text"]
    assert "LORE_MCP_KEY" in reply["text"]
    found = KEY.search(reply["text"])
    assert found is not None
    key = found.group(0)
    holding = [c for c in lore.bot.slack.calls if key in json.dumps(c.args)]
    assert [c.path for c in holding] == [f"/response/{name}"]
    [entry] = await lore.audit.latest()
    assert (entry.who, entry.action, entry.target) == (CARL_ADMIN, "apikey-create", "support-agent")
    assert entry.detail == f"access=group:support,public rate={DEFAULT_RATE}"
    assert key not in entry.model_dump_json()
    assert key not in caplog.text and key not in json.dumps(await lore.store.hgetall(store_keys.apikeys()))


async def test_access_may_be_omitted_and_the_rate_defaults_to_the_setting(lore: Lore) -> None:
    record = await lore.keys.verify(await lore.created("apikey create bare"))
    assert record is not None and record.grants == ["public"] and record.rate_limit == DEFAULT_RATE


async def test_list_shows_every_key_and_marks_revoked_ones(lore: Lore) -> None:
    old = await lore.created("apikey create old-agent")
    new = await lore.created("apikey create support-agent access=group:support rate=0")
    await lore.said(CARL_ADMIN, "apikey revoke old-agent")
    listed = await lore.said(CARL_ADMIN, "apikey list")
    [old_id, new_id] = [k.id for k in await lore.keys.all()]
    assert f"*support-agent* `{new_id}` · reads group:support, public · no rate limit" in listed
    assert "~old-agent~ *revoked* <!date^" in listed and f"`{old_id}`" in listed
    assert f"{DEFAULT_RATE} requests/minute" in listed and f"by <@{CARL_ADMIN}>" in listed
    assert old not in listed and new not in listed


async def test_revoke_refuses_the_key_from_now_on(lore: Lore) -> None:
    key = await lore.created("apikey create support-agent")
    assert "An active key named 'support-agent' exists" in await lore.said(
        CARL_ADMIN, "apikey create support-agent"
    )
    assert "Revoked API key *support-agent*" in await lore.said(CARL_ADMIN, "apikey revoke support-agent")
    assert await lore.keys.verify(key) is None
    assert "no active API key named *support-agent*" in await lore.said(
        CARL_ADMIN, "apikey revoke support-agent"
    )
    entries = await lore.audit.latest()
    assert [(e.action, e.target) for e in entries] == [
        ("apikey-revoke", "support-agent"),
        ("apikey-create", "support-agent"),
    ]


@pytest.mark.parametrize("text", ["apikey create x access=group:x", "apikey list", "apikey revoke x"])
async def test_only_admins_manage_keys(lore: Lore, text: str) -> None:
    reply = await lore.said(BOB, text)
    assert "Only Lore admins can manage API keys" in reply and "nothing was changed" in reply
    assert KEY.search(reply) is None
    await lore.unchanged()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("apikey", "Missing what to do with API keys: create, list or revoke"),
        ("apikey frobnicate", "Unknown `/lore apikey` command `frobnicate`"),
        ("apikey create", "Missing the key's name"),
        ("apikey create access=group:x", "Missing the key's name"),
        ("apikey create Support!", "Invalid key name 'Support!'"),
        ("apikey create x access=everyone", "Invalid access 'everyone': write `public`"),
        ("apikey create x access=", "`access=` is empty"),
        ("apikey create x rate=fast", "Invalid rate 'fast'"),
        ("apikey create x rate=-1", "Invalid rate '-1'"),
        ("apikey create x colour=blue", "Unknown option 'colour=blue'"),
        ("apikey list everything", "`/lore apikey list` takes no arguments"),
        ("apikey revoke", "Missing the key's name"),
        ("apikey revoke a b", "`/lore apikey revoke` takes one key name"),
        ("apikey revoke nope", "There is no active API key named *nope*"),
    ],
)
async def test_malformed_arguments_say_what_is_wrong_and_how_to_write_it(
    lore: Lore, text: str, problem: str
) -> None:
    reply = await lore.said(CARL_ADMIN, text)
    assert problem in reply and "Usage: `/lore apikey create <name>" in reply
    await lore.unchanged()


async def test_without_a_key_store_apikey_says_it_is_not_configured(
    empty_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> None:
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN])
    async with bot_harness(empty_kb, [store], tuned, slack, audit=StoreAudit(store)) as bot:
        [reply] = await bot.replies(await bot.command(CARL_ADMIN, "apikey list"))
        assert "API keys are not configured in this process" in reply["text"]
        [reply] = await bot.replies(await bot.command(CARL_ADMIN, "help"))
        assert "/lore apikey create <name>" in reply["text"] and "/lore apikey revoke" in reply["text"]
