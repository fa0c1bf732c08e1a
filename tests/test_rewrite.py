import json
import time
from pathlib import Path

import pytest

from bench.common import DATA
from knowledge.answering.llm import ChatClient
from knowledge.answering.rewrite import fallback_standalone, needs_context, standalone_question
from tests.answer_helpers import make_settings
from tests.llm_standin import LLMStandin

ANAPHORA = DATA / "handbook" / "questions" / "contextual_anaphora.jsonl"
PREVIOUS = "What is the prefix for Group Channels in Slack?"
HISTORY = [(PREVIOUS, "Group channels start with g_ [1].")]
REWRITTEN = "What is the prefix for Location Channels in Slack?"


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
        ("And for the next one?", HISTORY, f"{PREVIOUS} And for the next one?"),
        (" And for the next one? ", [("Older?", "a"), *HISTORY], f"{PREVIOUS} And for the next one?"),
        ("And for the next one?", [], "And for the next one?"),
        (
            " How many days of paid holiday do employees get per year? ",
            HISTORY,
            "How many days of paid holiday do employees get per year?",
        ),
    ],
)
def test_fallback_standalone(question: str, history: list[tuple[str, str]], standalone: str) -> None:
    assert fallback_standalone(question, history) == standalone


async def test_without_history_the_llm_is_not_asked(tmp_path: Path) -> None:
    async with LLMStandin([REWRITTEN]) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        assert await standalone_question(" And for the next one? ", [], client) == "And for the next one?"
        await client.aclose()
    assert llm.requests == []


async def test_the_llms_rewrite_is_used(tmp_path: Path) -> None:
    async with LLMStandin([f' "{REWRITTEN}" ']) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        assert await standalone_question("And for the next one?", HISTORY, client) == REWRITTEN
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
    assert standalone == f"{PREVIOUS} And for the next one?"


async def test_a_failing_llm_falls_back_to_the_rule(tmp_path: Path) -> None:
    async with LLMStandin(status=500) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        standalone = await standalone_question("And for the next one?", HISTORY, client)
        await client.aclose()
    assert standalone == f"{PREVIOUS} And for the next one?"
    assert len(llm.requests) == 1


async def test_a_hanging_llm_falls_back_to_the_rule(tmp_path: Path) -> None:
    async with LLMStandin(hang=True) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url, llm_timeout=0.5))
        started = time.monotonic()
        standalone = await standalone_question("And for the next one?", HISTORY, client)
        elapsed = time.monotonic() - started
        await client.aclose()
    assert standalone == f"{PREVIOUS} And for the next one?"
    assert elapsed < 5


async def test_without_an_llm_the_rule_is_used() -> None:
    assert (
        await standalone_question("And for the next one?", HISTORY, None)
        == f"{PREVIOUS} And for the next one?"
    )


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
