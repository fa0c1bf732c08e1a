"""Small builders shared by the answering tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.models import Chunk, ScoredChunk
from knowledge.settings import Settings


def hit(
    text: str,
    title: str = "Doc",
    *,
    doc: str | None = None,
    score: float = 1.0,
    headings: list[str] | None = None,
    chunk_no: int = 0,
) -> ScoredChunk:
    """A retrieved chunk of a public wiki page."""
    chunk = Chunk(
        source_id="wiki",
        doc_id=doc or f"{title.lower().replace(' ', '-')}.md",
        chunk_no=chunk_no,
        title=title,
        url=f"https://wiki.example/{title.replace(' ', '_')}",
        heading_path=headings or [],
        text=text,
        updated_at=datetime(2024, 5, 1, tzinfo=UTC),
        acl=["public"],
    )
    return ScoredChunk(chunk=chunk, score=score)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings isolated from the environment's .env, with quick LLM failure defaults."""
    values: dict[str, Any] = {"data_dir": tmp_path, "llm_retries": 0, "llm_timeout": 2.0, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


TRAVEL = hit(
    "Employees book all business travel through Navan. Flights over 6 hours may be booked in premium "
    "economy. Hotels must be under 250 EUR per night.",
    "Travel policy",
    score=0.9,
)
EXPENSES = hit(
    "Expense reports are filed in Concur within 30 days. Receipts are required for every item above 25 EUR.",
    "Expenses",
    score=0.8,
)
VACATION = hit(
    "Full-time employees get 28 days of paid vacation per year. Unused days expire on 31 March of the "
    "following year.",
    "Vacation",
    score=0.7,
)
LEAVE_ZH = hit(
    "公司总部位于上海。正式员工每年享有15天带薪年假。试用期员工不享受年假。年假需提前一周在系统中申请。",
    "休假制度",
    doc="hr/leave-zh.md",
    score=0.9,
)
OFFICE_ZH = hit("办公室早上九点开门。访客需要在前台登记。", "办公室", doc="hr/office-zh.md", score=0.5)
