from knowledge.answering.citations import cited_numbers
from knowledge.answering.extractive import extractive_answer
from tests.answer_helpers import EXPENSES, LEAVE_ZH, OFFICE_ZH, TRAVEL, VACATION, hit


def test_english_question_picks_the_answering_sentence() -> None:
    answer = extractive_answer(
        "How many vacation days do employees get per year?", [TRAVEL, EXPENSES, VACATION]
    )
    assert answer.mode == "extractive"
    assert answer.answer.startswith("Full-time employees get 28 days of paid vacation per year. [1]")
    assert [c.title for c in answer.citations] == ["Vacation"]
    assert "Travel" not in answer.answer and "Concur" not in answer.answer


def test_chinese_question_picks_the_answering_sentence() -> None:
    answer = extractive_answer("正式员工每年有多少天带薪年假？", [OFFICE_ZH, LEAVE_ZH])
    assert answer.mode == "extractive"
    assert "正式员工每年享有15天带薪年假。 [1]" in answer.answer
    assert "上海" not in answer.answer and "前台" not in answer.answer
    assert answer.citations[0].doc_id == "hr/leave-zh.md"


def test_every_marker_is_a_citation_and_every_citation_is_used() -> None:
    answer = extractive_answer(
        "Where are expense reports filed and how are hotels booked?", [TRAVEL, EXPENSES]
    )
    numbers = cited_numbers(answer.answer)
    assert numbers == [c.n for c in answer.citations] == list(range(1, len(numbers) + 1))
    assert 1 <= answer.answer.count("[") <= 3


def test_unrelated_question_is_no_answer_with_closest_sources() -> None:
    answer = extractive_answer(
        "What is the wifi password of the Berlin office?", [TRAVEL, EXPENSES, VACATION]
    )
    assert answer.mode == "no_answer"
    assert answer.answer.endswith("Closest sources: [1] [2] [3]")
    assert [c.n for c in answer.citations] == [1, 2, 3]


def test_chinese_no_answer_is_in_chinese() -> None:
    answer = extractive_answer("公司的股票代码是什么？", [LEAVE_ZH])
    assert answer.mode == "no_answer" and answer.answer.startswith("在你有权访问的资料中没有找到")


def test_headings_are_not_quoted_and_result_is_deterministic() -> None:
    page = hit(
        "# Vacation days\nFull-time employees get 28 vacation days.\nPart-time staff get them pro rata."
    )
    first = extractive_answer("vacation days", [page, VACATION])
    assert "# Vacation" not in first.answer
    assert first == extractive_answer("vacation days", [page, VACATION])


def test_no_hits_is_no_answer_without_citations() -> None:
    answer = extractive_answer("How do I book travel?", [])
    assert answer.mode == "no_answer" and answer.citations == []
