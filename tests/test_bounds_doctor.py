"""`lore doctor` never prints a password that sits inside a URL setting: not in the settings table, not in a
check line, not in an error it quotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.settings import mask_urls
from tests.conftest import free_port
from tests.recording_server import RecordingServer, json_reply
from tests.test_cli import lore_async


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://lore:hunter2@cache/0", "rediss://lore:***@cache/0"),
        ("https://user:p@ss@llm.example/v1", "https://user:***@llm.example/v1"),
        ("http://token@qdrant:6333", "http://***@qdrant:6333"),
        (
            "https://x.openai.azure.com/v1?api-key=hunter2&v=1",
            "https://x.openai.azure.com/v1?api-key=***&v=1",
        ),
        (
            "failed (Error connecting to 'redis://:hunter2@h:1')",
            "failed (Error connecting to 'redis://:***@h:1')",
        ),
        ("http://qdrant:6333 and bob@example.com", "http://qdrant:6333 and bob@example.com"),
    ],
)
def test_passwords_inside_urls_are_masked(text: str, shown: str) -> None:
    assert mask_urls(text) == shown


async def test_doctor_masks_every_url_password(tmp_path: Path) -> None:
    secrets = {"redis": "redispw-1", "qdrant": "qdrantpw-2", "llm": "llmpw-3", "embeddings": "embpw-4"}
    async with RecordingServer() as llm:
        llm.route("/v1/models", json_reply({"data": [{"id": "gpt-4o-mini"}]}))
        code, out = await lore_async(
            "doctor",
            cwd=tmp_path,
            LORE_REDIS_URL=f"redis://:{secrets['redis']}@127.0.0.1:{free_port()}/0",
            LORE_QDRANT_URL=f"http://admin:{secrets['qdrant']}@127.0.0.1:{free_port()}",
            LORE_LLM_BASE_URL=f"http://lore:{secrets['llm']}@127.0.0.1:{llm.port}/v1",
            LORE_EMBEDDING_BASE_URL=f"http://lore:{secrets['embeddings']}@127.0.0.1:{free_port()}/v1",
        )
    assert code == 1  # redis, the index and the embeddings are down
    assert [s for s in secrets.values() if s in out] == []
    assert f"ok  llm: gpt-4o-mini at http://lore:***@127.0.0.1:{llm.port}/v1" in out  # a check line
    assert "redis://:***@127.0.0.1:" in out and "http://admin:***@127.0.0.1:" in out  # the table
    assert "FAIL redis" in out and "FAIL embeddings" in out
