"""Context windows as pure functions: chunks made by the real chunker, joined and grown within a budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestion.chunking import chunk_sections
from ingestion.parsing import ParsedDocument, Section
from knowledge.models import Chunk, ScoredChunk
from knowledge.tokens import count_tokens
from knowledge.windows import reach, windows
from knowledge.windows.blocks import find_blocks
from knowledge.windows.passage import join, row_kind

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SENTENCES = [
    f"Rule {n} of the travel policy says that trip number {n} needs its own approval." for n in range(40)
]
PROSE = " ".join(SENTENCES)
HEADER = "| Region | Office | Phone |\n|---|---|---|"
ROWS = [f"| Region {n} | Office in city {n} | +49 30 {n:04d} |" for n in range(12)]
TABLE = "\n".join([HEADER, *ROWS])


def document(*sections: tuple[list[str], str], size: int = 48, overlap: int = 8) -> list[Chunk]:
    """The chunks Lore's chunker makes of these sections (heading path, text)."""
    parsed = ParsedDocument(title="Travel", sections=[Section(heading_path=p, text=t) for p, t in sections])
    drafts = chunk_sections(parsed, size=size, overlap=overlap)
    return [
        Chunk(
            source_id="wiki",
            doc_id="travel.md",
            chunk_no=n,
            title="Travel",
            heading_path=d.heading_path,
            text=d.text,
            updated_at=NOW,
            acl=["public"],
        )
        for n, d in enumerate(drafts)
    ]


def hits(chunks: list[Chunk], *numbers: int) -> list[ScoredChunk]:
    return [ScoredChunk(chunk=chunks[n], score=1 / (rank + 1)) for rank, n in enumerate(numbers)]


def containing(chunks: list[Chunk], text: str) -> int:
    return next(c.chunk_no for c in chunks if text in c.text)


def test_windows_read_in_order_without_the_repeated_overlap() -> None:
    chunks = document((["Travel"], PROSE))
    assert len(chunks) > 10 and SENTENCES[5][:30] in chunks[1].text + chunks[2].text
    [hit] = windows(hits(chunks, 5), chunks, budget=10_000)
    assert all(hit.text.count(sentence) == 1 for sentence in SENTENCES)
    positions = [hit.text.index(sentence) for sentence in SENTENCES]
    assert positions == sorted(positions)


@pytest.mark.parametrize("budget", [60, 120, 250])
def test_window_keeps_its_chunk_and_stays_within_the_budget(budget: int) -> None:
    chunks = document((["Travel"], PROSE))
    [hit] = windows(hits(chunks, 6), chunks, budget=budget)
    assert chunks[6].text in hit.text
    assert budget - 30 < count_tokens(hit.text) <= budget  # filled up to a sentence short of the budget
    assert hit.chunk == chunks[6]  # the chunk itself is never changed


def test_window_reads_on_first_and_looks_back_at_the_end() -> None:
    chunks = document((["Travel"], PROSE))
    [middle] = windows(hits(chunks, 6), chunks, budget=200)
    assert middle.text.startswith(chunks[6].text) and count_tokens(middle.text) > 150
    [end] = windows(hits(chunks, len(chunks) - 1), chunks, budget=200)
    assert end.text.endswith(chunks[-1].text) and count_tokens(end.text) > 150


def test_a_window_never_shrinks_below_its_chunk() -> None:
    chunks = document((["Travel"], PROSE))
    [hit] = windows(hits(chunks, 3), chunks, budget=10)
    assert hit.text == chunks[3].text


def test_table_is_kept_whole_with_its_header() -> None:
    chunks = document((["Travel"], f"{PROSE}\n\n{TABLE}\n\n{PROSE}"))
    row = containing(chunks, ROWS[6])
    assert HEADER not in chunks[row].text  # the chunk alone: a row without the names of its columns
    [hit] = windows(hits(chunks, row), chunks, budget=400)
    assert TABLE in hit.text


def test_a_table_too_big_for_the_window_still_brings_its_header() -> None:
    chunks = document((["Travel"], f"{PROSE}\n\n{TABLE}\n\n{PROSE}"))
    row = containing(chunks, ROWS[9])
    [hit] = windows(hits(chunks, row), chunks, budget=130)
    assert hit.text.startswith(HEADER) and ROWS[9] in hit.text
    assert ROWS[0] not in hit.text and count_tokens(hit.text) <= 130
    rows = [line for line in hit.text.splitlines()[2:] if line.startswith("|")]
    assert rows == ROWS[ROWS.index(rows[0]) :]  # whole rows, in order, to the end of the table


def test_list_is_kept_whole_where_it_fits() -> None:
    items = "\n".join(f"- Step {n}: file the expense report number {n} within thirty days." for n in range(8))
    chunks = document((["Travel"], f"{PROSE}\n\n{items}\n\n{PROSE}"))
    [hit] = windows(hits(chunks, containing(chunks, "Step 4")), chunks, budget=300)
    assert items in hit.text


def test_rendered_table_rows_keep_their_line_breaks_across_chunks() -> None:
    rows = [f"team: Team {n}; channel: #team-{n}; lead: Person {n}" for n in range(20)]
    chunks = document((["Teams"], "\n".join(rows)))
    assert len(chunks) > 3
    [hit] = windows(hits(chunks, 2), chunks, budget=10_000)
    assert hit.text == "\n".join(rows)


def test_repeated_text_is_all_kept() -> None:
    text = " ".join(["Book the train early."] * 60)
    chunks = document((["Trains"], text), size=48, overlap=8)
    assert len(chunks) > 3  # each starts with the end of the one before, which is also the sentence again
    [hit] = windows(hits(chunks, 1), chunks, budget=10_000, overlap=8)
    assert hit.text == text


def test_a_new_section_starts_with_its_heading() -> None:
    chunks = document(
        (["Travel", "Trains"], " ".join(SENTENCES[:6])), (["Travel", "Hotels"], " ".join(SENTENCES[6:12]))
    )
    first_hotel = next(c for c in chunks if c.heading_path[-1] == "Hotels")
    [hit] = windows(hits(chunks, first_hotel.chunk_no - 1), chunks, budget=10_000)
    assert f"\n\nHotels\n\n{first_hotel.text}" in hit.text


def test_hits_that_fit_one_window_become_one_hit_at_the_better_rank() -> None:
    chunks = document((["Travel"], PROSE))
    other = chunks[0].model_copy(update={"doc_id": "x.md"})
    first, later = hits(chunks, 6, 8)
    ranked = [first, ScoredChunk(chunk=other, score=0.6), later.model_copy(update={"score": 0.4})]
    joined = windows(ranked, chunks, budget=200)
    assert [(h.chunk.doc_id, h.chunk.chunk_no, h.score) for h in joined] == [
        ("travel.md", 6, 1.0),
        ("x.md", 0, 0.6),
    ]
    assert chunks[6].text in joined[0].text and chunks[8].text in joined[0].text
    assert all(joined[0].text.count(s) <= 1 for s in SENTENCES) and count_tokens(joined[0].text) <= 200


def test_a_hit_inside_a_better_window_is_read_there() -> None:
    chunks = document((["Travel"], PROSE))
    [hit] = windows(hits(chunks, 6, 7, 5), chunks, budget=400)
    assert hit.chunk.chunk_no == 6 and all(chunks[n].text in hit.text for n in (5, 6, 7))


def test_a_later_hit_never_repeats_what_a_better_window_shows() -> None:
    chunks = document((["Travel"], PROSE))
    found = windows(hits(chunks, 6, 9), chunks, budget=120)
    assert [h.chunk.chunk_no for h in found] == [6, 9]
    assert all(count_tokens(h.text) <= 120 for h in found)
    assert all(sum(h.text.count(s) for h in found) <= 1 for s in SENTENCES)
    assert SENTENCES[20] in found[1].text  # in chunk 9 only: the later hit keeps what is its own


def test_the_cap_per_document_counts_windows_not_chunks() -> None:
    chunks = document((["Travel"], PROSE))
    other = [c.model_copy(update={"doc_id": "x.md"}) for c in chunks[:3]]
    ranked = [*hits(chunks, 2, 3, 10, 15, 18), *[ScoredChunk(chunk=c, score=0.1) for c in other]]
    found = windows(ranked, chunks, budget=150, k=3, per_doc=2)
    assert [(h.chunk.doc_id, h.chunk.chunk_no) for h in found] == [
        ("travel.md", 2),  # chunk 3 joined it: one window, one place under the cap
        ("travel.md", 10),
        ("x.md", 0),  # 15 and 18 would be a third window of travel.md
    ]
    assert chunks[3].text in found[0].text


def test_without_a_budget_only_adjacent_hits_join() -> None:
    chunks = document((["Travel"], PROSE))
    joined = windows(hits(chunks, 4, 2, 3), [], budget=0)
    assert [h.chunk.chunk_no for h in joined] == [4]
    assert joined[0].text == join(chunks[2:5]).text
    apart = windows(hits(chunks, 1, 5), [], budget=0)
    assert [h.text for h in apart] == [chunks[1].text, chunks[5].text]


def test_a_window_stops_at_a_chunk_it_does_not_have() -> None:
    chunks = document((["Travel"], PROSE))
    visible = [c for c in chunks if c.chunk_no != 4]  # chunk 4 is not the asker's to read
    [hit] = windows(hits(chunks, 5), visible, budget=10_000)
    assert hit.text.startswith(chunks[5].text)
    assert all(c.text not in hit.text for c in chunks if c.chunk_no < 5)


def test_blocks_found_in_text() -> None:
    text = f"Intro line.\n{TABLE}\nMiddle.\n- one\n\n- two\nname: a; phone: 1\nname: b; phone: 2\nEnd."
    found = [(text[b.start : b.end].strip(), b.header) for b in find_blocks(text)]
    assert found == [
        (TABLE, HEADER + "\n"),
        ("- one\n\n- two", ""),
        ("name: a; phone: 1\nname: b; phone: 2", ""),
    ]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("| Region 1 | Office |", "pipe"),
        ("- Step 1: file it", "item"),
        ("2) Second step", "item"),
        ("Channel Name: #loc_adelaide; Description: Adelaide", "label:channel name"),
        ("11 : 00 （二）初审结果查询： 2022 年 12 月 23 日前", None),
        ("Trains are preferred for trips under four hours.", None),
    ],
)
def test_row_kinds(line: str, kind: str | None) -> None:
    assert row_kind(line) == kind


def test_a_cut_inside_prose_stays_prose() -> None:
    sentence = (
        "{n} : 00 （二）初审结果查询：2022 年 12 月 {n} 日前（三）初复试：2023 年 1 月测试以准考证为准。"
    )
    text = "".join(sentence.format(n=n) for n in range(10, 22))
    chunks = document((["招生"], text), size=60, overlap=12)
    assert len(chunks) > 3
    [hit] = windows(hits(chunks, 1), chunks, budget=10_000)
    assert "\n" not in hit.text and hit.text == text


@pytest.mark.parametrize(("budget", "expected"), [(0, 0), (128, 1), (512, 3), (100_000, 8)])
def test_reach_covers_the_budget(budget: int, expected: int) -> None:
    assert reach(budget, chunk_size=256, overlap=32) == expected
