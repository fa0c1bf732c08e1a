import json
import time
from pathlib import Path

import pytest

from bench.common import DATA
from knowledge.answering.llm import ChatClient
from knowledge.answering.rewrite import (
    Standalone,
    cjk_phrases,
    content_words,
    fallback_standalone,
    needs_context,
    standalone_question,
)
from tests.answer_helpers import make_settings
from tests.llm_standin import LLMStandin

ANAPHORA = DATA / "handbook" / "questions" / "contextual_anaphora.jsonl"
PREVIOUS = "What is the prefix for Group Channels in Slack?"
HISTORY = [(PREVIOUS, "Group channels start with g_ [1].")]
REWRITTEN = "What is the prefix for Location Channels in Slack?"
# the rule: the thread's content words first; the follow-up's references are answered, not searched
CARRIED = Standalone(question="prefix Group Channels And for the next one?", search="prefix Group Channels")


@pytest.mark.parametrize(
    ("question", "needs"),
    [
        ("And for the next one?", True),
        ("What about the level above that?", True),
        ("And for the CFO?", True),
        ("How about it?", True),
        ("Is it reimbursed?", True),
        ("Why?", True),
        ("那下一个呢？", True),
        ("上一个呢？", True),
        ("What is the expense policy for international travel?", False),
        ("How many days of paid holiday do employees get per year?", False),
        ("试用期员工可以申请年假和病假的具体规定是什么？", False),
        ("试用期员工有年假吗？", False),
    ],
)
def test_needs_context(question: str, needs: bool) -> None:
    assert needs_context(question) is needs


@pytest.mark.parametrize(
    ("question", "history", "standalone"),
    [
        ("And for the next one?", HISTORY, CARRIED),
        (" And for the next one? ", [("Older?", "a"), *HISTORY], CARRIED),
        ("And for the next one?", [], Standalone.same("And for the next one?")),
        (
            " How many days of paid holiday do employees get per year? ",
            HISTORY,
            Standalone.same("How many days of paid holiday do employees get per year?"),
        ),
        (
            "And how are expenses approved?",
            HISTORY,
            Standalone(
                question="prefix Group Channels And how are expenses approved?",
                search="prefix Group Channels expenses approved",
            ),
        ),
    ],
)
def test_fallback_standalone(question: str, history: list[tuple[str, str]], standalone: Standalone) -> None:
    assert fallback_standalone(question, history) == standalone


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("What is the prefix for Group Channels in Slack?", ["prefix", "Group", "Channels", "Slack"]),
        ("And what about the one after that?", []),
        ("What is the Slack channel for the CEO? And for the CFO?", ["Slack", "channel", "CEO", "CFO"]),
        ("中国人民大学文学院前身是什么", ["中国人民大学", "文学院", "前身"]),
        ("高瓴人工智能学院是什么时候成立的", ["高瓴", "人工智能", "学院", "成立"]),
    ],
)
def test_content_words_name_the_subject_without_question_words(text: str, words: list[str]) -> None:
    assert content_words(text) == words


def test_a_chinese_thread_carries_its_subject_to_every_follow_up_without_piling_up() -> None:
    history = [("中国人民大学文学院前身是什么", "文学院的前身是华北联合大学文艺学院 [1]。")]
    for follow_up in [
        "它成立于哪一年",
        "有哪些专业",
        "汉语言专业在培育学生方面的侧重点是什么",
        "本科生就业情况如何？",
    ]:
        standalone = fallback_standalone(follow_up, history)
        assert standalone == Standalone.same(f"中国人民大学文学院前身 {follow_up}")
        history.append((standalone.question, "……"))


def test_cjk_phrases_keep_a_name_jieba_cuts_whole() -> None:
    assert cjk_phrases("中国人民大学应用经济学院是在哪一年组建的")[0] == "中国人民大学应用经济学院"
    assert cjk_phrases("国学院有哪些下设系别")[0] == "国学院"


def test_a_chinese_follow_up_to_an_english_question_carries_its_words() -> None:
    history = [("When was the Gaoling School of AI founded?", "2019 [1]")]
    assert fallback_standalone("它的院长是谁", history) == Standalone.same("Gaoling School AI 它的院长是谁")


def test_words_the_follow_up_already_has_are_not_carried_again() -> None:
    history = [("What is the scope of impact for a Manager/Staff level role?", "Across teams [1].")]
    assert fallback_standalone("What about the level above that?", history) == Standalone(
        question="scope impact Manager What about the level above that?", search="scope impact Manager level"
    )
    assert fallback_standalone("学院的院长是谁", [("高瓴人工智能学院是什么时候成立的", "2019年 [1]")]) == (
        Standalone.same("高瓴人工智能学院 学院的院长是谁")
    )


async def test_without_history_the_llm_is_not_asked(tmp_path: Path) -> None:
    async with LLMStandin([REWRITTEN]) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        assert await standalone_question(" And for the next one? ", [], client) == Standalone.same(
            "And for the next one?"
        )
        await client.aclose()
    assert llm.requests == []


async def test_the_llms_rewrite_is_used(tmp_path: Path) -> None:
    async with LLMStandin([f' "{REWRITTEN}" ']) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        assert await standalone_question("And for the next one?", HISTORY, client) == Standalone.same(
            REWRITTEN
        )
        await client.aclose()
    last = llm.requests[0]["messages"][-1]["content"]
    assert f"User: {PREVIOUS}" in last and "Assistant: Group channels start with g_" in last
    assert last.endswith("Last message: And for the next one?")


@pytest.mark.parametrize("reply", ["", "   ", '""', "x" * 1000])
async def test_an_unusable_rewrite_falls_back_to_the_rule(tmp_path: Path, reply: str) -> None:
    async with LLMStandin([reply]) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        standalone = await standalone_question("And for the next one?", HISTORY, client)
        await client.aclose()
    assert standalone == CARRIED


async def test_a_failing_llm_falls_back_to_the_rule(tmp_path: Path) -> None:
    async with LLMStandin(status=500) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        standalone = await standalone_question("And for the next one?", HISTORY, client)
        await client.aclose()
    assert standalone == CARRIED
    assert len(llm.requests) == 1


async def test_a_hanging_llm_falls_back_to_the_rule(tmp_path: Path) -> None:
    async with LLMStandin(hang=True) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url, llm_timeout=0.5))
        started = time.monotonic()
        standalone = await standalone_question("And for the next one?", HISTORY, client)
        elapsed = time.monotonic() - started
        await client.aclose()
    assert standalone == CARRIED
    assert elapsed < 5


async def test_without_an_llm_the_rule_is_used() -> None:
    assert await standalone_question("And for the next one?", HISTORY, None) == CARRIED


# ----- the handbook's contextual-anaphora questions: `context` is asked first, `question` follows


def anaphora_pairs() -> list[tuple[str, str]]:
    lines = ANAPHORA.read_text(encoding="utf-8").splitlines()
    return [(row["context"], row["question"]) for row in map(json.loads, filter(None, lines))]


def test_every_follow_up_in_the_data_needs_context() -> None:
    pairs = anaphora_pairs()
    assert len(pairs) == 13
    assert [q for _, q in pairs if not needs_context(q)] == []


def test_every_context_question_in_the_data_stands_alone() -> None:
    assert [c for c, _ in anaphora_pairs() if needs_context(c)] == []


def test_a_thread_of_typed_questions_carries_the_last_turn_that_names_something() -> None:
    # `lore chat` and API clients send the questions as typed, not as made standalone
    history = [("What is the Slack channel for the CLO?", "#legal [1]"), ("And the last one?", "#ciso [1]")]
    assert fallback_standalone("And the one before it?", history) == Standalone(
        question="Slack channel CLO And the one before it?", search="Slack channel CLO"
    )
