"""A deterministic stand-in embedder for benchmarks that measure everything but the model."""

from __future__ import annotations

import hashlib
import math


class HashEmbedder:
    """A deterministic stand-in embedder (NOT a model): normalised vectors from a hash of the text.

    Used ONLY where the vectors' meaning does not matter and the model's cost would make a benchmark
    unaffordable (bench/window_speed.py).
    """

    name = "bench-hash-stand-in"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _vector(self, text: str) -> list[float]:
        seed = hashlib.sha256(text.encode()).digest()
        raw: list[float] = []
        block = 0
        while len(raw) < self.dim:
            digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
            raw += [b / 127.5 - 1.0 for b in digest]
            block += 1
        raw = raw[: self.dim]
        norm = math.sqrt(sum(x * x for x in raw)) or 1.0
        return [x / norm for x in raw]

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    async def close(self) -> None:
        return None
