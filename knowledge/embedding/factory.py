"""Choose the embedder: an OpenAI-compatible endpoint if configured, else the bundled model."""

from __future__ import annotations

from knowledge.embedding.base import Embedder
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.embedding.remote import RemoteEmbedder
from knowledge.settings import Settings


def open_model(settings: Settings) -> Embedder:
    """The configured embedding model, uncached."""
    if settings.embedding_base_url:
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
        return RemoteEmbedder(
            base_url=settings.embedding_base_url,
            model=settings.embedding_model,
            dim=settings.embedding_dim,
            api_key=key,
            batch_size=settings.embedding_batch_size,
            input_type=settings.embedding_input_type,
        )
    return LocalEmbedder(
        threads=settings.embedding_threads, batch_size=settings.embedding_batch_size, nice=settings.sync_nice
    )


def open_embedder(settings: Settings) -> CachedEmbedder:
    """The configured model behind the passage cache under `LORE_DATA_DIR`."""
    return CachedEmbedder(open_model(settings), EmbeddingCache(settings.data_dir / "embeddings.sqlite"))
