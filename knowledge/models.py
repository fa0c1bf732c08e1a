"""The data that crosses Lore's boundaries: documents, chunks, hits, citations and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

POINT_NAMESPACE = uuid.UUID("6f1b6c2e-8a53-4c4f-9d8e-4c6f7265a001")


def point_id(source_id: str, doc_id: str, chunk_no: int) -> str:
    """Deterministic Qdrant point id of one chunk: uuid5 of `source_id:doc_id:chunk_no`."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{source_id}:{doc_id}:{chunk_no}"))


class Document(BaseModel):
    """One document of a source, as listed by a connector."""

    model_config = ConfigDict(extra="forbid")

    source_id: str
    doc_id: str = Field(description="Stable within the source; for files the relative path with '/'.")
    title: str
    url: str = ""
    updated_at: datetime
    acl: list[str]
    content_hash: str = ""


class Chunk(BaseModel):
    """A piece of a document as it is stored: the payload of one Qdrant point."""

    model_config = ConfigDict(extra="forbid")

    source_id: str
    doc_id: str
    chunk_no: int
    title: str
    url: str = ""
    heading_path: list[str] = Field(default_factory=list)
    text: str
    updated_at: datetime
    acl: list[str]
    lang: str = "en"

    @property
    def id(self) -> str:
        """The chunk's point id."""
        return point_id(self.source_id, self.doc_id, self.chunk_no)

    def heading(self) -> str:
        """The chunk's title and heading path, outermost first (`Expenses > Travel > Hotels`)."""
        return " > ".join([self.title, *[h for h in self.heading_path if h and h != self.title]])

    def embedding_text(self) -> str:
        """What the dense model sees: title and heading path, then the text (raises recall)."""
        head = self.heading()
        return f"{head}\n{self.text}" if head else self.text


class SparseVector(BaseModel):
    """A sparse vector: term indices and their weights."""

    indices: list[int]
    values: list[float]


class IndexedChunk(BaseModel):
    """A chunk with its vectors, ready to store."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    chunk: Chunk
    dense: list[float]
    sparse: SparseVector


class ScoredChunk(BaseModel):
    """A chunk returned by a query, with its fused score and, when the dense search found it, its cosine
    similarity to the question (comparable across Lore deployments that use the same embedding model).

    Small chunks are for matching; `window` is for reading: the chunk widened with its neighbours in the
    document, in reading order (None until a window is made: then the chunk's own text is read)."""

    chunk: Chunk
    score: float
    similarity: float | None = None
    window: str | None = None

    @property
    def text(self) -> str:
        """What a reader of this hit sees (a search result, the prompt, an extractive answer)."""
        return self.chunk.text if self.window is None else self.window


class SearchResult(BaseModel):
    """One result of `lore search --json`."""

    doc_id: str
    chunk_id: str
    source: str
    title: str
    url: str
    text: str
    score: float


class Citation(BaseModel):
    """A numbered source of an answer; `n` is what `[n]` in the answer refers to."""

    n: int
    doc_id: str
    source: str
    title: str
    url: str
    snippet: str
    score: float
    updated_at: datetime | None = Field(default=None, exclude=True)


AnswerMode = Literal["generative", "extractive", "no_answer"]


class Answer(BaseModel):
    """The result of `lore ask --json`."""

    answer: str
    mode: AnswerMode
    citations: list[Citation]
    skipped: list[str] = Field(
        default_factory=list,
        exclude=True,
        description="Federated sources that did not answer in time (not part of `lore ask --json`).",
    )
    looked_up: list[str] = Field(
        default_factory=list,
        exclude=True,
        description="What the LLM's second search looked up (`LORE_SECOND_SEARCH`; not part of "
        "`lore ask --json`).",
    )
