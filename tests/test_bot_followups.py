"""Follow-ups in a Slack thread use the thread's history: the handbook's contextual_anaphora development
questions ("And for the next one?") are answered from their gold page after the first question.

The index holds the nine pages those questions name as gold (about 500 chunks: the bundled model embeds
only a few chunks a second here, so the whole handbook would take ten minutes). Asked without the thread,
the same follow-ups mostly miss: the check can fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from bench.common import DATA
from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from knowledge.embedding.cache import CachedEmbedder
from knowledge.index.server import ServerIndex
from knowledge.kv.memory import MemoryStore
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.runtime import sync_engine
from tests.bot_harness import BOB, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

HANDBOOK = DATA / "handbook"
CLOSEST = "*Closest sources*"  # how the bot heads the sources of a `no_answer`
Question = dict[str, object]


def questions() -> list[Question]:
    lines = (HANDBOOK / "questions" / "contextual_anaphora.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def gold_pages(question: Question) -> set[str]:
    retrieval = question["retrieval"]
    assert isinstance(retrieval, list)
    return {page for entry in retrieval for page in entry}


def cited(bot: Bot, thread_ts: str, pages: set[str]) -> set[str]:
    """The pages the last answer in the thread cites (file sources show their path); none when it is a
    `no_answer` (which lists the closest sources, but answers from none)."""
    last = bot.slack.replies_in("CGENERAL", thread_ts)[-1]
    text = json.dumps(last.blocks, ensure_ascii=False)
    if CLOSEST in text:
        return set()
    return {page for page in pages if f"`{page}`" in text}


async def index_gold_pages(kb: Knowledge, tmp_path: Path, pages: set[str]) -> None:
    root = tmp_path / "pages"
    for page in pages:
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HANDBOOK / "pages" / page, root / page)
    state = FileSyncState(tmp_path / "state.sqlite")
    result = await sync_engine(kb, ParsePool(workers=0), state).sync(
        "handbook", FilesConnector([root], ["public"])
    )
    await state.close()
    assert result.failed == 0 and result.added == len(pages)


@pytest.mark.timeout(900)
async def test_follow_ups_are_answered_from_the_gold_page(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    # the data lives beside the project (../shared/data): missing data fails the test, it never skips it
    assert HANDBOOK.is_dir(), f"the handbook data is missing: expected it at {HANDBOOK} (see bench/common.py)"
    data = questions()
    pages = set().union(*(gold_pages(q) for q in data))
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    kb = Knowledge(settings, index, embedder)
    await index_gold_pages(kb, tmp_path, pages)
    in_thread, alone = [], []
    async with bot_harness(kb, [MemoryStore()], bot_settings(settings, slack, rate_limit=0), slack) as bot:
        for q in data:
            ts = await bot.mention(BOB, "CGENERAL", str(q["context"]))
            await bot.answer_in("CGENERAL", ts)
            await bot.message(BOB, "CGENERAL", str(q["question"]), thread_ts=ts)
            await bot.answer_in("CGENERAL", ts, count=2)
            in_thread.append(bool(cited(bot, ts, pages) & gold_pages(q)))
            fresh = await bot.mention(BOB, "CGENERAL", str(q["question"]))
            await bot.answer_in("CGENERAL", fresh)
            alone.append(bool(cited(bot, fresh, pages) & gold_pages(q)))
    await kb.answerer.close()
    await index.close()
    print(f"gold page cited: follow-up in its thread {sum(in_thread)}/{len(data)}, asked alone {sum(alone)}")
    assert all(in_thread), [q["question"] for q, ok in zip(data, in_thread, strict=True) if not ok]
    assert sum(alone) < len(data) / 2
