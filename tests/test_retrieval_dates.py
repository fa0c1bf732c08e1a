"""A question that names a year prefers what was written in that year (`LORE_DATE_WEIGHT`), on both
index backends; a question without one ranks as before."""

from __future__ import annotations

from datetime import UTC, datetime

from knowledge.access import Principal
from knowledge.models import Chunk, IndexedChunk
from knowledge.retrieval import Retriever, named_years
from knowledge.service import Knowledge

REPORTS = {  # the 2022 report says it in more words: without its date it ranks below the others
    2021: "Annual report: the dean of the law school is Alice Moreau.",
    2022: "Annual report: after a long search by the board and a vote of the faculty, the dean of the law "
    "school is Bruno Keller, who also chairs the admissions committee.",
    2023: "Annual report: the dean of the law school is Chiara Rossi.",
}
QUESTION = "Who is the dean of the law school? (2022)"


async def store_reports(kb: Knowledge) -> None:
    for year, text in REPORTS.items():
        chunk = Chunk(
            source_id="news",
            doc_id=f"report-{year}.md",
            chunk_no=0,
            title="Annual report",
            text=text,
            updated_at=datetime(year, 6, 1, tzinfo=UTC),
            acl=["public"],
        )
        [dense] = await kb.embedder.embed_passages([chunk.embedding_text()])
        item = IndexedChunk(chunk=chunk, dense=dense, sparse=kb.sparse.encode_passage(chunk.embedding_text()))
        await kb.index.replace_document("news", chunk.doc_id, [item])


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
