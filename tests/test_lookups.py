"""The second search an LLM plans from the first hits (`LORE_SECOND_SEARCH`), on both index backends, with
the LLM stand-in over HTTP: what it adds to the prompt, that it searches as the asker, and that a failing
or rambling planner leaves the first search standing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingestion.connectors.files import FilesConnector
from ingestion.sync import SyncEngine
from knowledge.access import Principal
from knowledge.answering.lookups import MAX_QUERIES, parse_plan
from knowledge.service import Knowledge
from tests.llm_standin import LLMStandin, dead_url

QUESTION = "Who leads the division in charge of Financial Planning & Analysis, and where can I reach them?"
DIVISIONS = (
    "# Divisions\n\nFinancial Planning & Analysis belongs to the Finance division. The division is led by "
    "the Chief Financial Officer.\n"
)
CONTACTS = "# Executive contacts\n\nChief Financial Officer: Slack #cfo-desk.\n"
DEPUTY = "# Deputies\n\nThe Chief Financial Officer's deputy answers in #zorblax-desk.\n"
FINANCE = Principal.of(groups=["finance"])


@pytest.fixture
async def loaded(engine: SyncEngine, kb: Knowledge, tmp_path: Path) -> Knowledge:
    """Two public pages a step apart (the division's, the executives' contacts) and a finance-only page."""
    public, finance = tmp_path / "public", tmp_path / "finance"
    public.mkdir()
    finance.mkdir()
    (public / "divisions.md").write_text(DIVISIONS, encoding="utf-8")
    (public / "contacts.md").write_text(CONTACTS, encoding="utf-8")
    (finance / "deputies.md").write_text(DEPUTY, encoding="utf-8")
    await engine.sync("wiki", FilesConnector([public], ["public"]))
    await engine.sync("finance", FilesConnector([finance], ["group:finance"]))
    return kb


def with_llm(kb: Knowledge, url: str, **overrides: Any) -> Knowledge:
    """`kb` answering with the LLM at `url`, one source per first search (so a second one shows)."""
    values = {"llm_base_url": url, "llm_retries": 0, "llm_timeout": 5.0, "top_k": 1, **overrides}
    return Knowledge(kb.settings.model_copy(update=values), kb.index, kb.embedder)


def prompt(llm: LLMStandin) -> str:
    """The sources and question of the last answer the stand-in was asked to write."""
    return str(llm.requests[-1]["messages"][-1]["content"])


async def test_the_planned_search_brings_the_next_step_into_the_prompt(loaded: Knowledge) -> None:
    before = datetime.now(UTC).date()
    async with LLMStandin(
        ["The Chief Financial Officer [1]."], plans=["Chief Financial Officer contact"]
    ) as llm:
        kb = with_llm(loaded, llm.base_url)
        await kb.ask(QUESTION, Principal.anonymous())
        await kb.answerer.close()
    [plan] = llm.plan_requests
    asked = plan["messages"][1]["content"]
    assert "Finance division" in asked and QUESTION in asked
    assert any(f"Today's date: {d.isoformat()}" in asked for d in (before, datetime.now(UTC).date()))
    assert "#cfo-desk" in prompt(llm) and "Finance division" in prompt(llm)


async def test_without_the_second_search_the_prompt_stops_at_the_first(loaded: Knowledge) -> None:
    async with LLMStandin(
        ["The Chief Financial Officer [1]."], plans=["Chief Financial Officer contact"]
    ) as llm:
        kb = with_llm(loaded, llm.base_url, second_search=False)
        await kb.ask(QUESTION, Principal.anonymous())
        await kb.answerer.close()
    assert llm.plan_requests == []
    assert "Finance division" in prompt(llm) and "#cfo-desk" not in prompt(llm)


async def test_the_second_search_finds_only_what_the_asker_may_read(loaded: Knowledge) -> None:
    async with LLMStandin(plans=["Chief Financial Officer deputy zorblax-desk"]) as llm:
        kb = with_llm(loaded, llm.base_url)
        first = (await kb.retrieve(QUESTION, Principal.anonymous())).hits
        public = await kb.look_further(QUESTION, first, Principal.anonymous())
        member = await kb.look_further(QUESTION, first, FINANCE)
        await kb.answerer.close()
    assert public.queries == member.queries == ["Chief Financial Officer deputy zorblax-desk"]
    assert all(h.chunk.source_id == "wiki" for h in public.hits)
    assert "zorblax" not in str([h.model_dump() for h in public.hits])
    assert "finance" in {h.chunk.source_id for h in member.added}  # the same plan reaches it for finance


async def test_the_planner_reads_only_what_the_asker_may_read(loaded: Knowledge) -> None:
    deputy = "Who is the Chief Financial Officer's deputy, the one in #zorblax-desk?"
    async with LLMStandin(["The deputy [1]."]) as llm:
        kb = with_llm(loaded, llm.base_url)
        await kb.ask(deputy, Principal.anonymous())
        await kb.ask(deputy, FINANCE)
        await kb.answerer.close()
    public, member = (str(r["messages"]) for r in llm.plan_requests)
    assert "Deputies" not in public and "#zorblax-desk." not in public.replace(deputy, "")
    assert "Deputies" in member  # the same question shows the finance page to finance


async def test_a_plan_of_none_or_of_prose_adds_nothing(loaded: Knowledge) -> None:
    prose = "The answer is that the Chief Financial Officer leads it, " * 5  # an answer, not keywords
    async with LLMStandin(["The CFO [1]."], plans=["NONE", prose]) as llm:
        kb = with_llm(loaded, llm.base_url)
        first = (await kb.retrieve(QUESTION, Principal.anonymous())).hits
        for _ in range(2):
            further = await kb.look_further(QUESTION, first, Principal.anonymous())
            assert further.queries == [] and further.hits == first
        await kb.answerer.close()
    assert len(llm.plan_requests) == 2


async def test_a_dead_llm_costs_the_plan_one_attempt_and_the_answer_still_comes(loaded: Knowledge) -> None:
    kb = with_llm(loaded, dead_url(), llm_retries=2)
    started = time.monotonic()
    first = (await kb.retrieve(QUESTION, Principal.anonymous())).hits
    further = await kb.look_further(QUESTION, first, Principal.anonymous())
    planned = time.monotonic() - started
    answer = await kb.ask(QUESTION, Principal.anonymous())
    await kb.answerer.close()
    assert further.queries == [] and further.hits == first and planned < 1.0
    assert answer.mode == "extractive" and "Finance division" in answer.answer


@pytest.mark.parametrize(
    ("reply", "queries"),
    [
        ("NONE", []),
        ("none.", []),
        ("\n  NONE  \n", []),
        ("Nonexistent domains policy", ["Nonexistent domains policy"]),
        ("- CFO Slack channel\n- Finance division lead", ["CFO Slack channel", "Finance division lead"]),
        (
            '1. "CFO Slack channel"\n2) Finance division\n3. third one',
            ["CFO Slack channel", "Finance division"],
        ),
        ("Query 1: CFO channel\nquery 2: cfo CHANNEL", ["CFO channel"]),
        ("who leads fp&a?\nCFO channel", ["CFO channel"]),
        ("x" * 300, []),
        ('["CFO Slack channel", "Finance division"]', ["CFO Slack channel", "Finance division"]),
        ('```json\n["CFO Slack channel"]\n```', ["CFO Slack channel"]),
        ("[]", []),
    ],
)
def test_a_plan_is_read_as_keyword_queries(reply: str, queries: list[str]) -> None:
    assert parse_plan(reply, ["Who leads FP&A?"]) == queries
    assert len(queries) <= MAX_QUERIES
