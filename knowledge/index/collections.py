"""Collections behind an alias, on a Qdrant server: what lets `lore reindex` rebuild the index while Lore
keeps answering, then switch to the new collection at once.

Lore reads and writes `LORE_COLLECTION`, which is an alias of a physical collection named
`<alias>-<UTC time>-<random>`. A rebuild fills a new physical collection, then moves the alias to it in one
atomic request: every query goes either to the old collection or to the new one, never to none.
"""

from __future__ import annotations

import secrets
import time

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from knowledge.index.base import DENSE, PAYLOAD_INDEXES, SPARSE, IndexUnavailable

_SCHEMAS = {"keyword": models.PayloadSchemaType.KEYWORD, "datetime": models.PayloadSchemaType.DATETIME}
_CONFLICT = 409
COSINE, IDF = models.Distance.COSINE, models.Modifier.IDF


def physical_name(alias: str) -> str:
    """A fresh name for a physical collection behind `alias`."""
    return f"{alias}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


class Collections:
    """Physical collections and aliases of one Qdrant server (or qdrant-client's local mode)."""

    def __init__(self, client: AsyncQdrantClient, dim: int, replication: int = 1) -> None:
        self.client = client
        self.dim = dim
        self.replication = replication

    async def aliases(self) -> dict[str, str]:
        """Alias -> the collection it names."""
        found = await self.client.get_aliases()
        return {a.alias_name: a.collection_name for a in found.aliases}

    async def resolve(self, name: str) -> str | None:
        """The physical collection `name` stands for: its alias target, itself, or None when absent."""
        target = (await self.aliases()).get(name)
        if target is not None:
            return target
        return name if await self.client.collection_exists(name) else None

    async def create(self, physical: str) -> None:
        """Create a physical collection with Lore's vectors and payload indexes (a no-op if it exists)."""
        if not await self.client.collection_exists(physical):
            try:
                await self.client.create_collection(
                    physical,
                    vectors_config={DENSE: models.VectorParams(size=self.dim, distance=COSINE)},
                    sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=IDF)},
                    replication_factor=self.replication,
                )
            except UnexpectedResponse as err:
                if err.status_code != _CONFLICT:  # 409: another replica created it first
                    raise
        await self.prepare(physical)

    async def prepare(self, name: str) -> None:
        """Check the vector size of `name` (a collection or an alias) and add missing payload indexes."""
        info = await self.client.get_collection(name)
        vectors = info.config.params.vectors
        params = vectors.get(DENSE) if isinstance(vectors, dict) else None
        if params is None or params.size != self.dim:
            found = "no 'dense' vector" if params is None else f"'dense' vectors of size {params.size}"
            err = IndexUnavailable(
                f"Qdrant collection {name!r} has {found}, but LORE_EMBEDDING_DIM is {self.dim}: for a new "
                "model, run `lore reindex` with a new LORE_COLLECTION (see the operator guide)."
            )
            err.retryable = False
            raise err
        for field, kind in PAYLOAD_INDEXES.items():
            if field not in info.payload_schema:
                await self.client.create_payload_index(name, field, field_schema=_SCHEMAS[kind], wait=True)

    async def create_aliased(self, alias: str) -> None:
        """A new physical collection and `alias` naming it (a new install); a replica that loses the race to
        create the alias drops its own collection and uses the winner's."""
        physical = physical_name(alias)
        await self.create(physical)
        try:
            await self.client.update_collection_aliases(
                change_aliases_operations=[_create_alias(alias, physical)]
            )
        except UnexpectedResponse as err:
            await self.client.delete_collection(physical)
            if err.status_code != _CONFLICT and await self.resolve(alias) is None:
                raise

    async def switch(self, alias: str, physical: str) -> str | None:
        """Point `alias` at `physical` atomically; returns the collection it named before, to drop or keep.

        A plain collection named like the alias (made before Lore used aliases) is deleted first, and None
        is returned: queries fail for the moment between that deletion and the alias.
        """
        before = await self.resolve(alias)
        operations: list[models.AliasOperations] = [_create_alias(alias, physical)]
        if before == alias:  # a plain collection: it must go before an alias can take its name
            await self.client.delete_collection(alias)
            before = None
        elif before is not None:
            drop = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
            operations.insert(0, drop)
        await self.client.update_collection_aliases(change_aliases_operations=operations)
        return before

    async def drop(self, physical: str) -> None:
        """Delete a physical collection."""
        await self.client.delete_collection(physical)


def _create_alias(alias: str, physical: str) -> models.CreateAliasOperation:
    return models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=physical, alias_name=alias)
    )
