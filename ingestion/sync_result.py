"""What one sync of a source did (its summary, as `lore ingest`, the source's status and the admin's message
show it), and the limits it works within, among them the mass-deletion guard."""

from __future__ import annotations

from pydantic import BaseModel, Field

from knowledge.jobs import ALLOW_DELETES


class DocError(BaseModel):
    """A document that could not be indexed, and why."""

    doc_id: str
    reason: str


class SyncResult(BaseModel):
    """The summary of one sync of one source."""

    source_id: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    acl_updated: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = Field(0, description="Chunks stored by this sync.")
    unreadable: int = Field(0, description="Listed documents whose access maps to nobody (empty acl).")
    held: int = Field(0, description="Documents gone from the listing but NOT deleted: the guard held them.")
    indexed: int = Field(0, description="Documents the index held of the source when the sync started.")
    notes: list[str] = Field(default_factory=list, description="What the connector wants an admin to know.")
    seconds: float = 0.0
    errors: list[DocError] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every document was indexed and nothing waits for an admin."""
        return self.failed == 0 and self.held == 0

    def held_text(self) -> str:
        """Why deletions were held back, and how to confirm them ("" when none were)."""
        if not self.held:
            return ""
        return (
            f"NOTHING WAS DELETED: {self.held} of the {self.indexed} documents are gone from the listing, "
            "which is what an unmounted share or a moved folder looks like; if they are really gone, sync "
            f"again with {ALLOW_DELETES} (`/lore sync {self.source_id} {ALLOW_DELETES}`, "
            f"`lore sources sync {self.source_id} {ALLOW_DELETES}`, or `lore ingest … {ALLOW_DELETES}`)"
        )

    def line(self) -> str:
        """The one-line summary printed by `lore ingest`."""
        line = (
            f"{self.source_id}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {self.failed} failed, {self.chunks} chunks, {self.seconds:.1f} s"
        )
        if self.held:
            line += f"; {self.held_text()}"
        if self.unreadable:
            line += (
                f"; {self.unreadable} readable by nobody: map their accounts to Lore access in the "
                "directory file (LORE_DIRECTORY_FILE, accounts:)"
            )
        for note in self.notes:
            line += f"; {note}"
        return line


class SyncLimits(BaseModel):
    """Per-document limits, chunking parameters, and the mass-deletion guard."""

    max_bytes: int
    chunk_size: int
    chunk_overlap: int
    delete_guard_ratio: float = Field(0.5, description="LORE_DELETE_GUARD_RATIO.")
    delete_guard_min: int = Field(10, description="LORE_DELETE_GUARD_MIN.")

    def holds_back(self, indexed: int, gone: int) -> bool:
        """True when deleting `gone` of the `indexed` documents looks like a source that vanished rather
        than documents that were deleted: all of them, or at least the ratio and the minimum."""
        if not gone:
            return False
        return gone >= indexed or (
            gone >= self.delete_guard_ratio * indexed and gone >= self.delete_guard_min
        )
