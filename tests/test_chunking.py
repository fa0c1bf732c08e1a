"""Chunking: token-sized, heading-aware drafts with overlap, and nothing lost."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ingestion.chunking import Draft, chunk_sections
from ingestion.parsing import ParsedDocument, Section, parse_file
from knowledge.tokens import count_tokens

SIZES = [(32, 0), (64, 8), (128, 32)]


def doc(*sections: tuple[list[str], str]) -> ParsedDocument:
    return ParsedDocument(title="T", sections=[Section(heading_path=p, text=t) for p, t in sections])


def english(n: int) -> str:
    sentences = [f"Sentence {i} says that policy {i % 7} applies to team {i % 5}." for i in range(n)]
    paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, n, 6)]
    return "\n\n".join(paragraphs)


def chinese(n: int) -> str:
    marks = "。！？"
    return "".join(f"第{i}条规定员工每年可以报销{i % 9}次差旅费用{marks[i % 3]}" for i in range(n))


def words(text: str) -> set[str]:
    """Whitespace-separated words; Chinese counted character by character."""
    return set(re.findall(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+", text))


def covered(drafts: list[Draft]) -> set[str]:
    return {w for d in drafts for w in words(d.text) | set(d.heading_path)}


LONG = doc(
    (["Handbook"], "Welcome to the handbook."),
    (["Handbook", "Travel"], english(60)),
    (["Handbook", "Travel", "China"], chinese(40)),
    (["Handbook", "Leave"], english(30)),
)


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_size_respected_and_nothing_empty(size: int, overlap: int) -> None:
    drafts = chunk_sections(LONG, size=size, overlap=overlap)
    assert drafts
    assert all(d.text.strip() and count_tokens(d.text) <= size for d in drafts)


@pytest.mark.parametrize(("size", "overlap"), SIZES)
def test_every_word_lands_in_a_chunk(size: int, overlap: int) -> None:
    drafts = chunk_sections(LONG, size=size, overlap=overlap)
    source = {w for s in LONG.sections for w in words(s.text) | set(s.heading_path)}
    assert source <= covered(drafts)


def test_heading_path_carried() -> None:
    drafts = chunk_sections(LONG, size=64, overlap=8)
    travel = [d for d in drafts if d.heading_path == ["Handbook", "Travel"]]
    assert len(travel) > 3
    assert all("Sentence" in d.text for d in travel)
    assert any(d.heading_path == ["Handbook", "Travel", "China"] for d in drafts)


def test_overlap_repeats_the_end_of_the_previous_piece() -> None:
    drafts = [d for d in chunk_sections(LONG, size=64, overlap=16) if d.heading_path[-1] == "Travel"]
    for previous, current in itertools.pairwise(drafts):
        opening = " ".join(current.text.split()[:4])
        assert opening in " ".join(previous.text.split())[-200:]


def test_no_overlap_means_no_repeats() -> None:
    drafts = chunk_sections(LONG, size=64, overlap=0)
    text = " ".join(d.text for d in drafts if d.heading_path[-1] == "Leave")
    assert len(text.split()) == len(english(30).split())


def test_chinese_split_at_sentence_ends() -> None:
    drafts = chunk_sections(doc((["报销"], chinese(40))), size=48, overlap=0)
    assert len(drafts) > 2
    assert all(d.text[-1] in "。！？" for d in drafts)
    assert "".join(d.text for d in drafts) == chinese(40)


def test_chinese_overlap_adds_no_spaces() -> None:
    drafts = chunk_sections(doc((["报销"], chinese(40))), size=48, overlap=12)
    assert len(drafts) > 2
    assert all(" " not in d.text and d.text in chinese(40) for d in drafts)


def test_unbroken_text_cut_at_tokens_without_losing_characters() -> None:
    blob = "数据" * 300 + "x" * 500
    drafts = chunk_sections(doc(([], blob)), size=40, overlap=0)
    assert all(count_tokens(d.text) <= 40 for d in drafts)
    assert "".join(d.text for d in drafts) == blob


def test_small_related_sections_merge_under_common_path() -> None:
    small = doc(
        (["H", "Travel"], "Book trains early."),
        (["H", "Travel", "Expenses"], "Keep receipts."),
        (["H", "Leave"], "Twenty five days."),
    )
    [draft] = chunk_sections(small, size=256, overlap=32)
    assert draft.heading_path == ["H"]
    assert draft.text == (
        "Travel\n\nBook trains early.\n\nExpenses\n\nKeep receipts.\n\nLeave\n\nTwenty five days."
    )


def test_unrelated_sections_stay_apart() -> None:
    apart = doc((["H", "Travel", "Expenses"], "Keep receipts."), (["H", "Leave"], "Twenty five days."))
    paths = [d.heading_path for d in chunk_sections(apart, size=256, overlap=0)]
    assert paths == [["H", "Travel", "Expenses"], ["H", "Leave"]]


def test_sections_too_big_to_merge_stay_apart() -> None:
    pair = doc((["H", "A"], english(8)), (["H", "B"], english(8)))
    paths = [d.heading_path for d in chunk_sections(pair, size=150, overlap=0)]
    assert paths == [["H", "A"], ["H", "B"]]


def test_deterministic() -> None:
    assert chunk_sections(LONG, size=64, overlap=8) == chunk_sections(LONG, size=64, overlap=8)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (64, 64), (64, -1)])
def test_bad_parameters(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_sections(LONG, size=size, overlap=overlap)


def test_parsed_markdown_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\n## Setup\n\n" + english(40) + "\n\n## Usage\n\nRun it.\n")
    drafts = chunk_sections(parse_file(path, max_bytes=10**6), size=100, overlap=10)
    assert {tuple(d.heading_path) for d in drafts} == {("Guide", "Setup"), ("Guide", "Usage")}
    assert all(count_tokens(d.text) <= 100 for d in drafts)
