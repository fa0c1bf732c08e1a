"""The connector contract: what every source kind (files, SMB, MediaWiki, Confluence, web) provides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class DocumentRef(BaseModel):
    """One document as listed at the source: enough to decide whether it must be fetched again."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(description="Stable within the source; for files the relative path with '/'.")
    version: str = Field(description="Changes whenever the content may have changed (mtime+size, ETag, rev).")
    acl: list[str] = Field(description="Access strings; empty means nobody may read it.")
    updated_at: datetime
    title: str = ""
    url: str = ""
    size: int | None = Field(None, description="Bytes, when the source knows it before fetching.")
    problem: str = Field(
        "",
        description="Why this listed entry cannot be indexed now (a dangling link, a FIFO, an unreadable "
        "file or folder, access that cannot be read); empty for a normal document. See `Connector`.",
    )

    @classmethod
    def failed(cls, doc_id: str, problem: str, *, acl: list[str] | None = None, url: str = "") -> DocumentRef:
        """A listed entry that cannot be indexed, and why; `acl` None = its access is unknown: nobody."""
        return cls(
            doc_id=doc_id, version="", acl=acl or [], updated_at=datetime.now(UTC), url=url, problem=problem
        )


class ListingError(RuntimeError):
    """The source could not be listed: nothing may be pruned on the strength of this listing.

    `retryable` is False when trying again soon cannot help (credentials missing or refused, a wrong
    address): the worker records it at once instead of backing off and retrying. `status` is the HTTP
    status behind it (0 when none).
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int = 0) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status  # the HTTP status that failed it, when there was one


class Connector(Protocol):
    """Lists a source's documents and fetches one at a time.

    A connector may also have `notes: list[str]`, set by its last listing: what an admin should know
    (a page budget reached, attachments skipped). The sync engine adds them to the source's status.

    One bad entry never fails a listing: the connector lists it with `problem` set (`DocumentRef.failed`),
    and with acl [] when its access could not be read. The engine records it as a failed document and
    does not fetch it; text indexed from an earlier version stays, readable only by those who may read
    under both the old and the current acl, until the entry is readable again or leaves the listing (as
    with a fetch that fails). Only what makes the listing itself incomplete raises `ListingError`.
    """

    kind: str

    def list_documents(self) -> AsyncIterator[DocumentRef]:
        """Every document of the source, with its version and acl; raises ListingError if incomplete."""

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        """A local file with the document's content (the connector's own path, or a new file in `workdir`)."""


def acl_by_prefix(doc_id: str, default: list[str], overrides: dict[str, list[str]]) -> list[str]:
    """The acl of a document named by a '/'-separated path: the override of its longest matching prefix
    (a folder, a URL path), else `default`."""
    best = ""
    for prefix in overrides:
        clean = prefix.strip("/")
        if (doc_id == clean or doc_id.startswith(clean + "/")) and len(clean) > len(best):
            best = clean
    return overrides.get(best, overrides.get(best + "/", default)) if best else default
