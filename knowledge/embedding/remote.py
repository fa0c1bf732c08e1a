"""Embeddings from any OpenAI-compatible endpoint (`LORE_EMBEDDING_BASE_URL`) via the `openai` package."""

from __future__ import annotations

import openai

from knowledge.embedding.base import EmbeddingError


class RemoteEmbedder:
    """Batched calls to `/v1/embeddings`; errors carry whether a retry may help and how to fix them."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dim: int,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout: float = 60.0,
        retries: int = 2,
        input_type: bool = False,
    ) -> None:
        self.name = model
        self.dim = dim
        self._base_url = base_url
        self._batch_size = batch_size
        self._input_type = input_type
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=retries
        )

    async def _embed(self, texts: list[str], kind: str) -> list[list[float]]:
        extra = {"input_type": kind} if self._input_type else None
        try:
            response = await self._client.embeddings.create(model=self.name, input=texts, extra_body=extra)
        except openai.AuthenticationError as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self._base_url} refused the key: check LORE_EMBEDDING_API_KEY",
                retryable=False,
            ) from exc
        except openai.NotFoundError as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self._base_url} has no model {self.name!r}: check "
                "LORE_EMBEDDING_MODEL and LORE_EMBEDDING_BASE_URL (it usually ends in /v1)",
                retryable=False,
            ) from exc
        except openai.BadRequestError as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self._base_url} rejected the request: {exc.message}", retryable=False
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self._base_url} is unreachable: check "
                "LORE_EMBEDDING_BASE_URL and that the server runs"
            ) from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"embeddings endpoint {self._base_url} failed with HTTP {exc.status_code}",
                retryable=exc.status_code >= 500 or exc.status_code == 429,
            ) from exc
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        if len(vectors) != len(texts) or any(len(v) != self.dim for v in vectors):
            got = len(vectors[0]) if vectors else 0
            raise EmbeddingError(
                f"embeddings endpoint returned {len(vectors)} vectors of dimension {got}, "
                f"expected {len(texts)} of {self.dim}: set LORE_EMBEDDING_DIM to the "
                "model's dimension",
                retryable=False,
            )
        return vectors

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of passages, `batch_size` texts per request."""
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(await self._embed(texts[start : start + self._batch_size], "passage"))
        return out

    async def embed_query(self, text: str) -> list[float]:
        """Vector of one query."""
        return (await self._embed([text], "query"))[0]

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()
