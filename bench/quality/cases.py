"""The question sets of the quality benchmark and the corpora they are asked against.

A `Case` is one question with its gold evidence: document id -> spans (an empty list: the document itself
is the evidence, as for the Chinese passages). `history` holds the earlier questions of its thread, asked
first, the way a Slack thread asks a follow-up.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

HERE = Path(__file__).parent
HANDBOOK_KINDS = (
    "single_text",
    "multi-hop_reasoning",
    "negation_exclusion",
    "temporal_reference",
    "contextual_anaphora",
)
Lang = Literal["en", "zh"]


class Case(BaseModel):
    """One question, its thread so far, and its gold evidence."""

    kind: str
    question: str
    history: list[str] = Field(default_factory=list, description="Earlier questions of the thread.")
    gold: dict[str, list[str]] = Field(description="Document id -> gold spans; [] = the whole document.")
    lang: Lang = "en"


class Corpus(BaseModel):
    """Documents indexed once for Lore and for the peer: every file under `folder`, id = relative path."""

    name: str
    lang: Lang
    folder: Path


def handbook_cases(folder: Path, kind: str, limit: int | None = None) -> list[Case]:
    """The dev questions of one handbook type. A contextual_anaphora question is a follow-up: its `context`
    question comes first, and its gold is the last retrieval entry (the page of the follow-up's answer;
    the entries before it name the pages of the first question or a trap)."""
    cases = []
    for line in (folder / "questions" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()[:limit]:
        item = json.loads(line)
        entries = item["retrieval"][-1:] if item.get("context") else item["retrieval"]
        gold: dict[str, list[str]] = {}
        for entry in entries:
            for page, spans in entry.items():
                gold.setdefault(page, []).extend(spans)
        history = [item["context"]] if item.get("context") else []
        cases.append(Case(kind=kind, question=item["question"], history=history, gold=gold))
    return cases


def handbook_plain(folder: Path, kind: str) -> list[str]:
    """The questions of one handbook type, without gold (the multimodal ones: unanswerable here)."""
    lines = (folder / "questions" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def handbook_answers(folder: Path, kind: str) -> dict[str, str]:
    """Question -> the dataset's answer, for one handbook type (a multimodal answer is read off an image,
    but the page's text sometimes says it too)."""
    lines = (folder / "questions" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()
    return {item["question"]: item["answer"] for item in map(json.loads, filter(str.strip, lines))}


def passage_doc(passage_id: str) -> str:
    """The document id of a domainrag passage (one passage per document)."""
    return f"{passage_id}.md"


def write_domainrag(folder: Path, source: Path, only: set[str] | None = None) -> None:
    """One Markdown document per domainrag passage, its title as the heading (`only`: these ids).

    A passage's `date` (when the site published it) becomes the file's modification time, which is the
    document's `updated_at` once synced: the date a real synced page carries (a web page's Last-Modified, a
    file's mtime). The text is left as the site shows it: nothing is added to what is embedded or matched.
    """
    for line in (source / "passages.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if only is None or p["id"] in only:
            path = folder / passage_doc(p["id"])
            path.write_text(f"# {p['title']}\n\n{p['text']}\n", encoding="utf-8")
            published = publication(p.get("date") or "")
            if published is not None:
                os.utime(path, (published, published))


def publication(date: str) -> float | None:
    """A passage's `date` ("2023-12-20", or a year alone) as a timestamp (noon UTC); None if not a date."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})-(\d{2}))?", date.strip())
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2] or 1), int(match[3] or 1)
    try:
        return datetime(year, month, day, 12, tzinfo=UTC).timestamp()
    except ValueError:  # the data holds a few impossible dates ("2517-37-68")
        return None


def domainrag_cases(source: Path, limit: int | None = None) -> list[Case]:
    """Time-sensitive questions, then the conversations asked as follow-ups; any gold passage counts.

    A time-sensitive question is asked with the year it is about ("中国人民大学的校长是谁？（2023年）"): the
    same words come with different years and different gold passages, as a person asking would say."""
    cases = []
    for line in (source / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:limit]:
        item = json.loads(line)
        gold: dict[str, list[str]] = {passage_doc(g): [] for g in item["gold"]}
        question = f"{item['question']}（{item['date']}年）" if item.get("date") else item["question"]
        cases.append(Case(kind="time-sensitive", question=question, gold=gold, lang="zh"))
    for line in (source / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[:limit]:
        item = json.loads(line)
        history = [turn["question"] for turn in item["history"]]
        gold = {passage_doc(g): [] for g in item["gold"]}
        cases.append(
            Case(kind="conversation", question=item["question"], history=history, gold=gold, lang="zh")
        )
    return cases


def write_cmrc(
    folder: Path, path: Path, contexts: int | None = None, per_context: int | None = None
) -> list[Case]:
    """CMRC 2018 passages as text files in `folder` (one per passage); their questions."""
    cases = []
    for item in json.loads(path.read_text(encoding="utf-8"))[:contexts]:
        name = f"{item['context_id']}.txt"
        (folder / name).write_text(item["context_text"], encoding="utf-8")
        for qa in item["qas"][:per_context]:
            cases.append(Case(kind="cmrc2018", question=qa["query_text"], gold={name: []}, lang="zh"))
    return cases


def off_topic() -> list[str]:
    """Questions that no company wiki answers (ours, committed beside this module)."""
    lines = (HERE / "off_topic.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


class CrossCase(BaseModel):
    """A question in one language about a document in the other: it must find that document (or say
    `no_answer` in the asker's language)."""

    question: str
    lang: Lang
    corpus: str
    gold: list[str]


def cross_language() -> list[CrossCase]:
    """Our cross-language questions (committed beside this module)."""
    lines = (HERE / "cross_language.jsonl").read_text(encoding="utf-8").splitlines()
    return [CrossCase.model_validate_json(line) for line in lines if line.strip()]
