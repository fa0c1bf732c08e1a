"""The embedder contract: dense vectors for passages and queries."""

from __future__ import annotations

from typing import Protocol


class EmbeddingError(RuntimeError):
    """Embedding failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Embedder(Protocol):
    """Turns texts into normalised dense vectors. Calls are batched and never block the event loop."""

    name: str
    dim: int

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Vectors of document passages, in order."""

    async def embed_query(self, text: str) -> list[float]:
        """Vector of one search query."""

    async def close(self) -> None:
        """Release resources (HTTP clients, threads)."""
