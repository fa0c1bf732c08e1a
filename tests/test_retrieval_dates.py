"""A question that names a year prefers what was written in that year (`LORE_DATE_WEIGHT`), on both
index backends, even when its words alone rank it past the usual candidates; a question without one ranks
as before."""

from __future__ import annotations

from datetime import UTC, datetime

from knowledge.access import Principal
from knowledge.models import Chunk
from knowledge.retrieval import Retriever, named_years
from knowledge.service import Knowledge
from tests.conftest import store_chunks

REPORTS = {  # the 2022 report says it in more words: without its date it ranks below the others
    2021: "Annual report: the dean of the law school is Alice Moreau.",
    2022: "Annual report: after a long search by the board and a vote of the faculty, the dean of the law "
    "school is Bruno Keller, who also chairs the admissions committee.",
    2023: "Annual report: the dean of the law school is Chiara Rossi.",
}
QUESTION = "Who is the dean of the law school? (2022)"
LOW = "Faculty news: after a vote of the board, Bruno Keller now leads the faculty of law."


async def store(kb: Knowledge, doc_id: str, texts: list[str], year: int) -> None:
    """`texts` as the chunks of one document dated in `year`."""
    chunks = [
        Chunk(
            source_id="news",
            doc_id=doc_id,
            chunk_no=n,
            title="Annual report",
            text=text,
            updated_at=datetime(year, 6, 1, tzinfo=UTC),
            acl=["public"],
        )
        for n, text in enumerate(texts)
    ]
    await store_chunks(kb, chunks)


async def store_reports(kb: Knowledge) -> None:
    for year, text in REPORTS.items():
        await store(kb, f"report-{year}.md", [text], year)


async def first_doc(kb: Knowledge, question: str, date_weight: float) -> str:
    settings = kb.settings.model_copy(update={"date_weight": date_weight})
    retriever = Retriever(kb.index, kb.embedder, kb.sparse, settings)
    hits = await retriever.search(question, Principal.anonymous().sorted(), k=3)
    return hits[0].chunk.doc_id


async def test_a_named_year_ranks_that_years_document_first(kb: Knowledge) -> None:
    await store_reports(kb)
    assert await first_doc(kb, QUESTION, date_weight=0) != "report-2022.md"  # the test can fail
    assert await first_doc(kb, QUESTION, date_weight=kb.settings.date_weight) == "report-2022.md"
    unnamed = "Who is the dean of the law school?"
    assert await first_doc(kb, unnamed, kb.settings.date_weight) == await first_doc(kb, unnamed, 0)


def test_named_years_are_years_standing_alone() -> None:
    assert named_years("中国人民大学的校长是谁？（2023年）") == {2023}
    assert named_years("from 2019/2020 to 2023-12-20") == {2019, 2020, 2023}
    assert named_years("1,900 euros, 2000.50 dollars, order 20230") == set()


async def test_a_named_year_looks_deeper_than_the_words_alone(kb: Knowledge) -> None:
    names = ["Ada", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jon", "Kai", "Lea"]
    for year, name in enumerate(names, 2008):
        await store(kb, f"report-{year}.md", [f"Annual report: the dean of the law school is {name}."], year)
    await store(kb, "report-2022.md", [LOW], 2022)
    settings = kb.settings.model_copy(update={"prefetch": 5})  # k=2: 8 candidates a signal, 16 dated
    for weight, found in [(0.0, False), (settings.date_weight, True)]:
        retriever = Retriever(
            kb.index, kb.embedder, kb.sparse, settings.model_copy(update={"date_weight": weight})
        )
        hits = await retriever.search(QUESTION, Principal.anonymous().sorted(), k=2)
        assert ("report-2022.md" in [hit.chunk.doc_id for hit in hits]) is found
