"""`lore api` as an operator runs it (a subprocess on the embedded defaults), checked by schemathesis against
its own `/openapi.json`: no 5xx, every response matches the schema, invalid requests are refused."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from knowledge.access import Principal
from knowledge.apikeys import open_keys
from knowledge.embedding.cache import CachedEmbedder
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.index.server import ServerIndex
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Credentials, FileRegistry, Source
from tests.conftest import free_port, wait_for_port
from tests.test_cli import LORE, lore

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"


def new_key(data: Path, name: str, grants: list[str]) -> str:
    settings = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    _, key = asyncio.run(open_keys(settings).create(name, grants, 0, "test"))
    return key


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`lore api` over a public page and a finance page; yields its URL and home, then stops it (SIGTERM)."""
    home = tmp_path_factory.mktemp("api")
    (home / "wiki").mkdir()
    (home / "wiki" / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    (home / "fin").mkdir()
    (home / "fin" / "budget.md").write_text("# Budget\n\nThe acquisition budget is 42 million euros.\n")
    assert lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=home).returncode == 0
    assert lore("ingest", "fin", "--source", "fin", "--access", "group:finance", cwd=home).returncode == 0
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    proc = subprocess.Popen(
        [LORE, "api", "--port", str(port)],
        cwd=home,
        env={**clean, "LORE_DATA_DIR": str(home / "data")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", home
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""


def post(url: str, body: dict[str, str], key: str) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Authorization": f"Bearer {key}"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.load(response))


def test_lore_api_answers_as_the_key_allows(served: tuple[str, Path]) -> None:
    url, home = served
    public = new_key(home / "data", "public-agent", [])
    finance = new_key(home / "data", "finance-agent", ["group:finance"])
    question = {"query": "What is the acquisition budget?"}
    assert "42 million" not in json.dumps(post(url + "/v1/search", question, public))
    assert "42 million" in json.dumps(post(url + "/v1/search", question, finance))
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(url + "/v1/search", question, public[:-2] + "xx")
    assert refused.value.code == 401


def test_schemathesis_finds_nothing_wrong(served: tuple[str, Path]) -> None:
    url, home = served
    key = new_key(home / "data", "schemathesis", ["group:finance"])
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--seed",
            "20261123",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=home,
    )
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) >= 100, summary


def test_another_lore_federates_with_this_one(
    served: tuple[str, Path], tmp_path: Path, embedder: CachedEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Lore (in this process) asks the `lore api` process: what comes back is what the key it holds
    may read there."""
    url, home = served
    monkeypatch.setenv("LORE_SECRET_HQ_FINANCE", new_key(home / "data", "hq-finance", ["group:finance"]))
    monkeypatch.setenv("LORE_SECRET_HQ_PUBLIC", new_key(home / "data", "hq-public", []))

    async def texts(key_env: str) -> list[str]:
        index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
        await index.ensure()
        registry = FileRegistry(tmp_path / f"{key_env}.json")
        remote = Source(
            id="hq",
            kind="lore-remote",
            location=[url],
            access=["group:staff"],
            credentials=Credentials(env=key_env),
        )
        await registry.put(remote)
        federation = Federation(registry, 5.0, guard=HostGuard(["127.0.0.1"]))
        settings = Settings(data_dir=tmp_path / "local", _env_file=None)  # type: ignore[call-arg]
        kb = Knowledge(settings, index, embedder, federation)
        found = await kb.retrieve("What is the acquisition budget?", Principal.of(groups=["staff"]))
        await federation.close()
        await index.close()
        assert found.skipped == [] and {h.chunk.source_id for h in found.hits} == {"hq"}
        return [h.chunk.text for h in found.hits]

    assert any("42 million" in text for text in asyncio.run(texts("LORE_SECRET_HQ_FINANCE")))
    assert not any("42 million" in text for text in asyncio.run(texts("LORE_SECRET_HQ_PUBLIC")))
