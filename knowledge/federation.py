"""Federated search: other Lore deployments asked at question time, their results fused with ours.

A `lore-remote` source names another Lore's base URL and where its API key is kept. Nothing of the remote's
content is stored here: every question asks the remotes the asker may use (the source's own access list,
checked here) through their `/v1/search`, under the remote key's principal (checked there). Each remote gets
`LORE_REMOTE_TIMEOUT` seconds; one that is slow, down or refuses the key is skipped and named, never waited
for past the budget and never allowed to break the answer.

A federated question carries `X-Lore-Hop`: the Lore answering it searches its own index only, so two
deployments that are each other's remotes never ask each other back. The key goes to the remote's URL only
(redirects are not followed), through the host rule of knowledge/hosts.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from pydantic import BaseModel, ValidationError

from knowledge.access import Principal
from knowledge.hosts import HostGuard, RefusedHost
from knowledge.kv.base import StoreUnavailable
from knowledge.models import Chunk, ScoredChunk
from knowledge.settings import Settings
from knowledge.sources import REMOTE_KIND, CredentialsError, Registry, Source, SourceStatus

log = logging.getLogger(__name__)

__all__ = ["HOP_HEADER", "REMOTE_KIND", "Federated", "Federation", "RemoteError"]
HOP_HEADER = "X-Lore-Hop"  # on a federated question: answer it from your own index only
PROBE_TIMEOUT = 10.0  # seconds a health check of a remote may take
COOLDOWN = 30.0  # seconds a remote that failed is skipped without being asked
_EPOCH = datetime.fromtimestamp(0, UTC)


class RemoteError(RuntimeError):
    """A remote Lore did not give results; the message says why and what to check."""


class RemoteResult(BaseModel):
    """One result of a remote's `/v1/search` (the fields this side uses)."""

    doc_id: str
    source: str
    title: str
    url: str = ""
    text: str
    score: float = 0.0
    updated_at: datetime | None = None
    similarity: float | None = None


class RemoteResponse(BaseModel):
    """A remote's `/v1/search` response."""

    results: list[RemoteResult]


class Federated(BaseModel):
    """Each remote's ranking (best first), and the remotes that were skipped."""

    rankings: list[list[ScoredChunk]]
    skipped: list[str]


def as_hit(remote: Source, rank: int, result: RemoteResult) -> ScoredChunk:
    """A remote result as a hit of the `remote` source: its documents are `<remote source>/<doc id>`, and
    it carries the remote source's access list (who here may see it)."""
    chunk = Chunk(
        source_id=remote.id,
        doc_id=f"{result.source}/{result.doc_id}",
        chunk_no=rank,
        title=result.title,
        url=result.url,
        text=result.text,
        updated_at=result.updated_at or _EPOCH,
        acl=remote.access,
    )
    return ScoredChunk(chunk=chunk, score=result.score, similarity=result.similarity)


class Federation:
    """Asks the `lore-remote` sources of the registry; owns one HTTP session (`close()`).

    A remote that failed (no answer in time, unreachable, key refused) rests for `cooldown` seconds: the
    questions asked meanwhile skip it at once instead of each waiting out the budget again. The first
    question after the rest asks it again.
    """

    def __init__(
        self,
        registry: Registry,
        timeout: float,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
        *,
        guard: HostGuard | None = None,
        secrets_dir: Path | None = None,
    ) -> None:
        """`guard` is the host rule with the operator's exceptions; `secrets_dir` is LORE_SECRETS_DIR."""
        self.registry = registry
        self.timeout = timeout
        self.guard = guard or HostGuard()
        self.secrets_dir = secrets_dir
        self.cooldown = cooldown
        self._clock = clock
        self._resting: dict[tuple[str, str], float] = {}  # (source id, url) -> when it may be asked again
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def of(cls, registry: Registry, settings: Settings) -> Federation:
        """The federation of `registry` with the settings' time budget, host rule and secrets folder."""
        return cls(
            registry,
            settings.remote_timeout,
            guard=HostGuard(settings.allowed_internal_hosts),
            secrets_dir=settings.secrets_dir,
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=self.guard.connector())
        return self._session

    async def remotes(self, principal: Principal) -> list[Source]:
        """The remote sources `principal` may use (none when the registry cannot be read)."""
        try:
            records = await self.registry.all()
        except (StoreUnavailable, OSError, ValidationError) as exc:
            log.warning("federated sources left out: the source registry cannot be read (%s)", exc)
            return []
        return [
            r.source for r in records if r.source.kind == REMOTE_KIND and principal.can_read(r.source.access)
        ]

    async def search(
        self, query: str, principal: Principal, k: int, sources: list[str] | None = None
    ) -> Federated:
        """Every usable remote's best `k` for `query` (only those of `sources` when given), asked at once
        within the time budget."""
        remotes = [r for r in await self.remotes(principal) if sources is None or r.id in sources]
        if not remotes:
            return Federated(rankings=[], skipped=[])
        found = await asyncio.gather(*(self._ranking(r, query, k) for r in remotes))
        rankings = [hits for hits in found if hits is not None]
        skipped = [r.id for r, hits in zip(remotes, found, strict=True) if hits is None]
        return Federated(rankings=rankings, skipped=skipped)

    async def _ranking(self, remote: Source, query: str, k: int) -> list[ScoredChunk] | None:
        started = self._clock()
        resting = (remote.id, remote.location[0])
        if self._resting.get(resting, 0.0) > started:
            log.info("remote %s skipped: resting after a failure", remote.id)
            return None
        try:
            results = await self.ask(remote, query, k, self.timeout)
        except (TimeoutError, RemoteError) as exc:
            why = f"no answer within {self.timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("remote %s skipped for %g s: %s", remote.id, self.cooldown, why)
            self._resting[resting] = self._clock() + self.cooldown
            return None
        self._resting.pop(resting, None)
        took = 1000 * (self._clock() - started)
        log.info("remote %s: %d results in %.0f ms", remote.id, len(results), took)
        return [as_hit(remote, rank, result) for rank, result in enumerate(results)]

    async def ask(self, remote: Source, query: str, k: int, budget: float) -> list[RemoteResult]:
        """One remote's results for `query` within `budget` seconds; `RemoteError` saying what failed,
        `TimeoutError` when the budget runs out."""
        url = remote.location[0].rstrip("/") + "/v1/search"
        try:
            key = remote.credentials.resolve(self.secrets_dir) if remote.credentials is not None else ""
        except CredentialsError as exc:
            raise RemoteError(str(exc)) from exc
        headers = {HOP_HEADER: "1"} | ({"Authorization": f"Bearer {key}"} if key else {})
        question = {"query": query, "k": k}
        try:
            async with (
                asyncio.timeout(budget),
                self._http().post(url, json=question, headers=headers, allow_redirects=False) as response,
            ):
                body = await response.read()
                status = response.status
                moved = response.headers.get("Location", "")
        except RefusedHost as exc:
            raise RemoteError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise RemoteError(f"{url} cannot be reached ({type(exc).__name__}: {exc})") from exc
        if status == 401:
            raise RemoteError(f"{url} refused the API key (401): create a key there and store it here")
        if 300 <= status < 400:  # the key would follow the redirect: it goes to the URL the admin gave only
            raise RemoteError(f"{url} redirects to {moved or '?'}: give the source the remote's own URL")
        if status != 200:
            raise RemoteError(f"{url} answered HTTP {status}: {body[:200]!r}")
        try:
            return RemoteResponse.model_validate_json(body).results[:k]
        except ValidationError as exc:
            raise RemoteError(
                f"{url} did not answer like a Lore /v1/search ({exc.error_count()} errors): check its URL"
            ) from exc

    async def probe(self, remote: Source) -> SourceStatus:
        """A remote's health as a source status (for `/lore sources`): reachable with its key, or why not."""
        budget = max(self.timeout, PROBE_TIMEOUT)
        try:
            results = await self.ask(remote, "lore federation check", 1, budget)
        except TimeoutError:
            return SourceStatus(last_sync=time.time(), ok=False, summary=f"no answer within {budget:g} s")
        except RemoteError as exc:
            return SourceStatus(last_sync=time.time(), ok=False, summary=str(exc))
        return SourceStatus(
            last_sync=time.time(),
            ok=True,
            summary=f"reachable, the key works ({len(results)} result for a test query; "
            "asked at question time, nothing stored here)",
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
