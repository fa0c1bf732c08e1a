"""The `jsonfeed` connector: lists the feed's articles, fetches one as a Markdown file. Only the sync worker
imports this module."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp
from pydantic import BaseModel, ValidationError

from ingestion.connectors.base import DocumentRef, ListingError, acl_by_prefix
from knowledge.settings import Settings
from knowledge.sources import Source


class Article(BaseModel):
    id: str
    title: str
    body: str
    url: str = ""
    updated_at: datetime


class JsonFeedConnector:
    kind = "jsonfeed"

    def __init__(self, url: str, acl: list[str], overrides: dict[str, list[str]]) -> None:
        self.url, self.acl, self.overrides = url, acl, overrides
        self.articles: dict[str, Article] = {}

    @classmethod
    def from_source(cls, source: Source, settings: Settings) -> JsonFeedConnector:
        return cls(source.location[0], source.access, source.overrides)

    async def list_documents(self) -> AsyncIterator[DocumentRef]:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
                http.get(self.url, allow_redirects=False) as response,
            ):
                response.raise_for_status()
                items = (await response.json(content_type=None))["items"]
            self.articles = {a.id: a for a in (Article.model_validate(i) for i in items)}
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValidationError) as exc:
            raise ListingError(f"feed {self.url} unreadable: {exc}") from exc  # nothing is pruned
        for a in self.articles.values():
            acl = acl_by_prefix(a.id, self.acl, self.overrides)
            yield DocumentRef(
                doc_id=a.id,
                version=a.updated_at.isoformat(),
                acl=acl,
                updated_at=a.updated_at,
                title=a.title,
                url=a.url,
            )

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        article = self.articles[ref.doc_id]
        path = workdir / f"{hashlib.sha256(ref.doc_id.encode()).hexdigest()[:16]}.md"  # ids are no paths
        path.write_text(f"# {article.title}\n\n{article.body}\n", encoding="utf-8")
        return path
