"""The job contract between the bot (which asks) and the sync worker (which does): names, requests, status.

Production runs jobs on Redis with arq (`lore worker`); embedded mode runs them inside the bot process.
Either way a second request for a source whose job is queued or running is a no-op (`False`).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

SYNC = "sync_source"
DELETE = "delete_source"
ALLOW_DELETES = "--allow-deletes"  # how an admin confirms deletions the mass-deletion guard held back


def job_id(job: str, source_id: str) -> str:
    """The one id a source's job of this kind has while queued or running (makes requests idempotent)."""
    return f"lore:{job}:{source_id}"


class JobRequest(BaseModel):
    """What to do to which source, and whom to tell when it is done."""

    source_id: str
    requested_by: str | None = Field(None, description="Slack user id to notify when the job ends.")
    allow_deletes: bool = Field(
        False,
        description="A sync may delete what the mass-deletion guard would hold back (an admin confirmed).",
    )


class QueueStatus(BaseModel):
    """What `/lore status` shows (filtered there to the sources the viewer may read)."""

    queued: int = 0
    queued_sources: list[str] = Field(
        default_factory=list, description="Ids of the sources with a job waiting (one per job)."
    )
    running: list[str] = Field(default_factory=list, description="Ids of the sources being worked on.")
    removing: list[str] = Field(
        default_factory=list, description="Those of `running` being removed rather than synced."
    )
    workers: int = 0
    detail: str = Field("", description="A note on the queue as a whole; never names a source.")


class Jobs(Protocol):
    """Where the bot sends sync and delete requests."""

    async def request_sync(self, request: JobRequest) -> bool:
        """Queue a sync; False when one is already queued or running for the source."""
        ...

    async def request_delete(self, request: JobRequest) -> bool:
        """Queue removing the source and all its chunks; False when one is already queued or running."""
        ...

    async def status(self) -> QueueStatus:
        """Queue depth, running jobs and live workers."""
        ...
