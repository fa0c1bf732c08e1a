import pytest

from knowledge.answering.citations import (
    build_citations,
    cited_numbers,
    claims,
    find_markers,
    partial_marker_start,
    renumber,
)
from knowledge.answering.sentences import snippet, split_sentences
from knowledge.answering.streaming import MarkerFilter
from tests.answer_helpers import TRAVEL, VACATION


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Navan [1].", [(1,)]),
        ("Navan [1, 2].", [(1, 2)]),
        ("Navan [1][2].", [(1,), (2,)]),
        ("Navan [1,2,3]", [(1, 2, 3)]),
        ("Navan [2-4]", [(2, 3, 4)]),
        ("Navan [Source 3]", [(3,)]),
        ("Navan [sources 1, 2]", [(1, 2)]),
        ("年假15天【1】", [(1,)]),
        ("年假15天［2］", [(2,)]),
        ("年假15天[1，2]", [(1, 2)]),
        ("no markers here", []),
        ("a list [x] and [see 1]", []),
        ("array[0] of [ 4 ]", [(0,), (4,)]),
    ],
)
def test_find_markers(text: str, numbers: list[tuple[int, ...]]) -> None:
    assert [m.numbers for m in find_markers(text)] == numbers


@pytest.mark.parametrize(
    ("text", "valid", "expected", "order"),
    [
        ("A [1]. B [2].", {1, 2}, "A [1]. B [2].", (1, 2)),
        ("A [3]. B [1]. C [3].", {1, 3}, "A [1]. B [2]. C [1].", (3, 1)),
        ("A [7]. B [2].", {1, 2}, "A. B [1].", (2,)),
        ("A [1, 7, 2].", {1, 2}, "A [1][2].", (1, 2)),
        ("A [2] [1].", {1, 2}, "A [1][2].", (2, 1)),
        ("A [1][1].", {1}, "A [1].", (1,)),
        ("A [9][8].", {1}, "A.", ()),
        ("[7] starts the line\nB [1]", {1}, "starts the line\nB [1]", (1,)),
        ("年假15天【2】。", {2}, "年假15天[1]。", (2,)),
        ("No citations at all.", {1}, "No citations at all.", ()),
    ],
)
def test_renumber(text: str, valid: set[int], expected: str, order: tuple[int, ...]) -> None:
    result = renumber(text, valid)
    assert (result.text, result.order) == (expected, order)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("Navan [", 6),
        ("Navan [1", 6),
        ("Navan [1, ", 6),
        ("Navan [1]", None),
        ("Navan 【", 6),
        ("Navan", None),
        ("Navan [" + "x" * 40, None),
        ("Navan [1\nmore", None),
    ],
)
def test_partial_marker_start(text: str, start: int | None) -> None:
    assert partial_marker_start(text) == start


def test_cited_numbers_in_order_of_first_use() -> None:
    assert cited_numbers("B [2]. A [1][2]. C [3, 1].") == [2, 1, 3]


def test_claims_attach_the_sentence_before_the_marker() -> None:
    found = claims("Intro. Travel goes through Navan [1]. Receipts above 25 EUR [2][1].")
    assert found == {1: "Travel goes through Navan Receipts above 25 EUR", 2: "Receipts above 25 EUR"}


def test_build_citations_snippet_is_the_cited_sentence() -> None:
    text = "Hotels stay under 250 EUR a night [1]. Vacation is 28 days [2]."
    cites = build_citations(text, [TRAVEL, VACATION])
    assert [c.n for c in cites] == [1, 2]
    assert "Hotels must be under 250 EUR" in cites[0].snippet  # the whole short chunk fits
    assert cites[1].doc_id == "vacation.md" and cites[1].source == "wiki" and cites[1].score == 0.7


def test_snippet_is_short_and_around_the_hint() -> None:
    text = "Filler sentence one. " * 30 + "The expense limit is 50 EUR per day. " + "More filler. " * 30
    cut = snippet(text, "what is the expense limit")
    assert len(cut) <= 300 and "expense limit is 50 EUR" in cut


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three?", ["One.", "Two!", "Three?"]),
        ("正式员工有年假。试用期没有！对吗？", ["正式员工有年假。", "试用期没有！", "对吗？"]),
        ("- first item\n- second item", ["first item", "second item"]),
        ("It costs $1.50 today.", ["It costs $1.50 today."]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def stream_through(raw: str, valid: set[int], size: int) -> list[str]:
    filt = MarkerFilter(valid, "NOT_FOUND")
    deltas = [filt.feed(raw[i : i + size]) for i in range(0, len(raw), size)]
    return [*deltas, filt.finish()]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_stream_never_shows_invalid_markers(size: int) -> None:
    raw = "Travel goes through Navan [3]. Hotels under 250 EUR [7][3]. Receipts [1, 9] always [12]."
    deltas = stream_through(raw, {1, 3}, size)
    shown = ""
    for delta in deltas:
        shown += delta
        assert "[7" not in shown and "[9" not in shown and "[12" not in shown and "[3]" not in shown
    assert shown == renumber(raw, {1, 3}).text
    assert shown == "Travel goes through Navan [1]. Hotels under 250 EUR [1]. Receipts [2] always."


def test_stream_hides_the_not_found_marker() -> None:
    assert "".join(stream_through("NOT_FOUND", {1}, 2)) == ""
    assert "".join(stream_through("NOT", {1}, 2)) == "NOT"  # a reply that only starts alike is shown
