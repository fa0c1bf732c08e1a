from datetime import date

from knowledge.answering.context import pack
from knowledge.answering.prompt import NOT_FOUND, build_messages
from knowledge.tokens import count_tokens
from tests.answer_helpers import EXPENSES, LEAVE_ZH, TRAVEL, VACATION, hit


def test_pack_numbers_sources_with_title_and_headings() -> None:
    packed = pack(
        [TRAVEL, hit("Text of the section.", "Handbook", headings=["Handbook", "IT", "Laptops"])], 1000
    )
    assert [s.n for s in packed.sources] == [1, 2]
    rendered = packed.render()
    assert rendered.startswith("[1] Travel policy (updated 2024-05-01)\nEmployees book")
    assert "[2] Handbook > IT > Laptops (updated 2024-05-01)\nText of the section." in rendered
    assert packed.tokens == count_tokens(rendered)


def test_pack_respects_the_budget_and_truncates_the_last() -> None:
    long = " ".join(f"Sentence {i} about the travel policy and its many rules." for i in range(40))
    hits = [hit(long, f"Page {i}") for i in range(5)]
    packed = pack(hits, 700)
    assert count_tokens(packed.render()) <= 700 and packed.tokens <= 700
    assert len(packed.sources) == 2
    assert not packed.sources[0].truncated and packed.sources[-1].truncated
    assert packed.sources[-1].text.endswith("…")


def test_pack_leaves_out_a_source_that_would_be_a_stub() -> None:
    packed = pack([hit("word " * 190, "A"), hit("other " * 100, "B")], 200)
    assert [s.hit.chunk.title for s in packed.sources] == ["A"]


def test_prompt_has_rules_numbered_sources_and_question() -> None:
    messages = build_messages("How do I book a flight?", pack([TRAVEL, EXPENSES], 3000))
    system, user = messages[0]["content"], messages[-1]["content"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "only from the numbered sources" in system and "[n]" in user and NOT_FOUND in system
    assert "[1] Travel policy" in user and "[2] Expenses" in user
    assert user.index("[2] Expenses") < user.index("Question: How do I book a flight?")


def test_prompt_dates_the_question_and_the_sources() -> None:
    user = build_messages("What changed last month?", pack([TRAVEL], 3000), today=date(2026, 2, 3))[-1][
        "content"
    ]
    assert "[1] Travel policy (updated 2024-05-01)" in user
    assert "Today's date: 2026-02-03 (Tuesday).\nQuestion: What changed last month?" in user


def test_prompt_for_a_chinese_question_asks_for_chinese() -> None:
    user = build_messages("试用期员工有年假吗？", pack([LEAVE_ZH], 3000))[-1]["content"]
    assert "answer in Chinese" in user


def test_prompt_for_an_english_question_asks_for_its_language() -> None:
    user = build_messages("How long is vacation?", pack([VACATION], 3000))[-1]["content"]
    assert "Answer in the language of the question." in user and "Chinese" not in user


def test_history_comes_before_the_question_without_old_markers() -> None:
    history = [("How long is vacation?", "28 days a year [1].")]
    messages = build_messages("And for part-time staff?", pack([VACATION], 3000), history)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "How long is vacation?"
    assert messages[2]["content"] == "28 days a year."
