"""Extractive answers with the bundled model judging relevance (a few short sentences per test)."""

from pathlib import Path

import pytest

from ingestion.connectors.files import FilesConnector
from ingestion.sync import SyncEngine
from knowledge.access import Principal
from knowledge.answering.citations import cited_numbers
from knowledge.answering.extractive import extractive_answer
from knowledge.embedding.cache import CachedEmbedder
from knowledge.models import ScoredChunk
from knowledge.service import Knowledge
from tests.answer_helpers import EXPENSES, LEAVE_ZH, OFFICE_ZH, TRAVEL, VACATION, hit
from tests.conftest import write_pages


async def test_english_question_picks_the_answering_sentence(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer(
        "How many vacation days do employees get per year?", [TRAVEL, EXPENSES, VACATION], embedder
    )
    assert answer.mode == "extractive"
    assert answer.answer.startswith("Full-time employees get 28 days of paid vacation per year.")
    assert [c.title for c in answer.citations] == ["Vacation"]
    assert "Travel" not in answer.answer and "Concur" not in answer.answer


async def test_chinese_question_picks_the_answering_sentence(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer("正式员工每年有多少天带薪年假？", [OFFICE_ZH, LEAVE_ZH], embedder)
    assert answer.mode == "extractive"
    assert "正式员工每年享有15天带薪年假。" in answer.answer and answer.answer.endswith("[1]")
    assert "前台" not in answer.answer and len(answer.citations) == 1  # the office page is not quoted
    assert answer.citations[0].doc_id == "hr/leave-zh.md"


async def test_every_marker_is_a_citation_and_every_citation_is_used(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer(
        "Where are expense reports filed and how are hotels booked?", [TRAVEL, EXPENSES], embedder
    )
    numbers = cited_numbers(answer.answer)
    assert numbers == [c.n for c in answer.citations] == list(range(1, len(numbers) + 1))
    assert 1 <= answer.answer.count("[") <= 3


async def test_unrelated_question_is_no_answer_with_closest_sources(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer(
        "What is the wifi password of the Berlin office?", [TRAVEL, EXPENSES, VACATION], embedder
    )
    assert answer.mode == "no_answer"
    assert answer.answer.endswith("Closest sources: [1] [2] [3]")
    assert [c.n for c in answer.citations] == [1, 2, 3]


async def test_chinese_no_answer_is_in_chinese(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer("公司的股票代码是什么？", [LEAVE_ZH], embedder)
    assert answer.mode == "no_answer" and answer.answer.startswith("在你有权访问的资料中没有找到")


async def test_headings_are_not_quoted_and_result_is_deterministic(embedder: CachedEmbedder) -> None:
    page = hit(
        "# Vacation days\nFull-time employees get 28 vacation days.\nPart-time staff get them pro rata."
    )
    first = await extractive_answer("How many vacation days do employees get?", [page, VACATION], embedder)
    assert first.mode == "extractive" and "Vacation days" not in first.answer
    assert first == await extractive_answer(
        "How many vacation days do employees get?", [page, VACATION], embedder
    )


async def test_no_hits_is_no_answer_without_citations(embedder: CachedEmbedder) -> None:
    answer = await extractive_answer("How do I book travel?", [], embedder)
    assert answer.mode == "no_answer" and answer.citations == []


# ----- over a real index (both backends), the bundled model judging relevance

PAGES = {
    "jargon.md": "# Jargon\n\nSome phrases we avoid, and what to say instead.\n\n"
    "| Instead of... | Try... |\n|---|---|\n| Boil the ocean | Waste time |\n"
    "| Punt | Make less of a priority |\n",
    "travel.md": "# Travel\n\nEmployees book all business travel through Navan. "
    "Hotels must be under 250 EUR per night.\n",
    "vacation.md": "# Vacation\n\nFull-time employees get 28 days of paid vacation per year. "
    "Unused days expire on 31 March of the following year.\n",
}


@pytest.fixture
async def wiki(engine: SyncEngine, kb: Knowledge, tmp_path: Path) -> Knowledge:
    await engine.sync("wiki", FilesConnector([write_pages(tmp_path / "wiki", PAGES)], ["public"]))
    return kb


@pytest.mark.parametrize(
    "question", ["What is the boiling point of mercury?", "Who won the 2018 FIFA World Cup?"]
)
async def test_off_topic_question_is_no_answer(wiki: Knowledge, question: str) -> None:
    answer = await wiki.ask(question, Principal.anonymous())
    assert answer.mode == "no_answer" and answer.answer.startswith("I couldn't find")


async def test_answer_quotes_the_answering_page_and_cites_it(wiki: Knowledge) -> None:
    embedded = wiki.embedder.texts_embedded
    answer = await wiki.ask(
        "How many days of paid vacation do full-time employees get?", Principal.anonymous()
    )
    assert wiki.embedder.texts_embedded > embedded  # the candidate sentences were judged by the model
    assert answer.mode == "extractive" and "28 days of paid vacation" in answer.answer
    assert cited_numbers(answer.answer) == [c.n for c in answer.citations] == [1]
    assert answer.citations[0].doc_id == "vacation.md"


async def test_chinese_question_about_an_english_page_finds_it_or_says_no_in_chinese(wiki: Knowledge) -> None:
    answer = await wiki.ask("全职员工每年有多少天带薪假期？", Principal.anonymous())
    if answer.mode == "no_answer":
        assert answer.answer.startswith("在你有权访问的资料中没有找到")
    else:
        assert {c.doc_id for c in answer.citations} == {"vacation.md"}


async def test_chinese_off_topic_question_is_no_answer_in_chinese(wiki: Knowledge) -> None:
    answer = await wiki.ask("水的沸点是多少度？", Principal.anonymous())
    assert answer.mode == "no_answer" and answer.answer.startswith("在你有权访问的资料中没有找到")


@pytest.mark.parametrize(
    ("question", "pages", "found_none"),
    [
        ("公司的股票代码是什么？", [TRAVEL, EXPENSES, VACATION], "在你有权访问的资料中没有找到"),
        ("What is the company's stock ticker?", [LEAVE_ZH, OFFICE_ZH], "I couldn't find this"),
    ],
)
async def test_across_languages_no_answer_is_in_the_askers_language(
    embedder: CachedEmbedder, question: str, pages: list[ScoredChunk], found_none: str
) -> None:
    answer = await extractive_answer(question, pages, embedder)
    assert answer.mode == "no_answer" and answer.answer.startswith(found_none)
