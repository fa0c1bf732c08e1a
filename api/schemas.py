"""What crosses the Knowledge API: requests, results and errors, shaped like the CLI's `--json`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowledge.models import Answer, AnswerMode, Citation, ScoredChunk, SearchResult
from knowledge.service import to_result

MAX_QUESTION = 2000  # characters of a query or question
MAX_HISTORY = 10  # earlier turns of a conversation
MAX_ANSWER = 4000  # characters of an earlier answer (a follow-up needs its gist, not all of it)


# Some character that is not whitespace (Python's `str.isspace`), written so that JSON Schema, pydantic and
# the OpenAPI tools all read it alike: a blank query is invalid, and the schema says so.
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _strip(value: str) -> str:
    return value.strip()


class SearchRequest(BaseModel):
    """`POST /v1/search`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(
        min_length=1, max_length=MAX_QUESTION, pattern=NOT_BLANK, description="What to look for (not blank)."
    )
    k: int | None = Field(None, ge=1, le=50, description="Number of results (default LORE_TOP_K).")

    _query = field_validator("query")(_strip)

    @field_validator("k", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        """JSON Schema's integer includes 9.0: accept a whole float as the integer it is."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class Turn(BaseModel):
    """One earlier question and its answer, for a follow-up."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(max_length=MAX_QUESTION)
    answer: str = Field(max_length=MAX_ANSWER)


class AnswerRequest(BaseModel):
    """`POST /v1/answer`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION, pattern=NOT_BLANK, description="The question (not blank)."
    )
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Earlier turns, oldest first: a follow-up is made standalone from them.",
    )
    stream: bool = Field(
        False, description="Answer as server-sent events (also chosen by `Accept: text/event-stream`)."
    )

    _question = field_validator("question")(_strip)


class Result(SearchResult):
    """One result: the fields of `lore search --json`, plus when the document last changed. A federated
    Lore's results carry the lore-remote source's id as their source."""

    updated_at: datetime | None = None
    similarity: float | None = Field(
        None, description="Cosine similarity of the question and the text (dense search), when known."
    )

    @classmethod
    def of(cls, hit: ScoredChunk) -> Result:
        """A retrieved chunk as a result."""
        similarity = None if hit.similarity is None else round(hit.similarity, 6)
        return cls(**to_result(hit).model_dump(), updated_at=hit.chunk.updated_at, similarity=similarity)


class SearchResponse(BaseModel):
    """The best results the key may read; `skipped` names federated sources that did not answer in time."""

    results: list[Result]
    skipped: list[str] = Field(default_factory=list)


class AnswerResponse(BaseModel):
    """The fields of `lore ask --json`, plus the federated sources skipped and what an LLM's second search
    looked up."""

    answer: str
    mode: AnswerMode
    citations: list[Citation]
    skipped: list[str] = Field(default_factory=list)
    looked_up: list[str] = Field(
        default_factory=list,
        description="With an LLM: what it looked up after reading the first search's results, searched "
        "under the same key before it answered (LORE_SECOND_SEARCH); empty when nothing was.",
    )

    @classmethod
    def of(cls, answer: Answer) -> AnswerResponse:
        """An answer of the knowledge base in the API's shape."""
        return cls(
            answer=answer.answer,
            mode=answer.mode,
            citations=answer.citations,
            skipped=list(answer.skipped),
            looked_up=list(answer.looked_up),
        )


class Delta(BaseModel):
    """Server-sent event `delta`: more answer text (a final event may replace it)."""

    text: str


class FieldError(BaseModel):
    """What is wrong with one field of a request."""

    field: str
    message: str


ErrorCode = Literal[
    "invalid_json", "invalid_request", "unauthorized", "rate_limited", "unavailable", "not_found", "internal"
]


class ApiError(BaseModel):
    """Every error: a stable code, a sentence saying how to fix it, and the fields at fault."""

    error: ErrorCode
    message: str
    fields: list[FieldError] = Field(default_factory=list)
