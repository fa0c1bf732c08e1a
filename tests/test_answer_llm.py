import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from knowledge.answering import Answerer, ChatClient, Delta, Final, LLMError
from knowledge.answering.citations import cited_numbers
from knowledge.models import Answer, ScoredChunk
from knowledge.settings import Settings
from knowledge.tokens import count_tokens
from tests.answer_helpers import EXPENSES, LEAVE_ZH, TRAVEL, VACATION, hit, make_settings
from tests.llm_standin import LLMStandin, dead_url

HITS = [EXPENSES, TRAVEL, VACATION]


async def run(settings: Settings, question: str, hits: list[ScoredChunk]) -> tuple[list[str], Answer]:
    """Stream an answer; returns the visible deltas and the final answer."""
    deltas: list[str] = []
    final: Answer | None = None
    async with Answerer(settings) as answerer:
        async for event in answerer.stream(question, hits):
            if isinstance(event, Delta):
                deltas.append(event.text)
            else:
                assert isinstance(event, Final)
                final = event.answer
    assert final is not None
    return deltas, final


def assert_citations_consistent(answer: Answer) -> None:
    numbers = cited_numbers(answer.answer)
    assert numbers == [c.n for c in answer.citations] == list(range(1, len(numbers) + 1))


async def test_streamed_answer_is_generative_with_renumbered_citations(tmp_path: Path) -> None:
    reply = "Book trips in Navan [2]. Hotels stay under 250 EUR a night [2][1]."
    async with LLMStandin([reply]) as llm:
        deltas, answer = await run(
            make_settings(tmp_path, llm_base_url=llm.base_url), "How do I travel?", HITS
        )
    assert answer.mode == "generative"
    assert answer.answer == "Book trips in Navan [1]. Hotels stay under 250 EUR a night [1][2]."
    assert [c.title for c in answer.citations] == ["Travel policy", "Expenses"]
    assert "Hotels must be under 250 EUR" in answer.citations[0].snippet
    assert "".join(deltas) == answer.answer and len(deltas) > 3
    assert_citations_consistent(answer)


async def test_request_carries_the_prompt_and_settings(tmp_path: Path) -> None:
    async with LLMStandin(["Navan [1]."]) as llm:
        settings = make_settings(tmp_path, llm_base_url=llm.base_url, llm_model="m1", llm_temperature=0.3)
        await run(settings, "试用期员工有年假吗？", [LEAVE_ZH])
    request = llm.requests[0]
    assert request["stream"] is True and request["model"] == "m1" and request["temperature"] == 0.3
    assert request["authorization"] == "Bearer not-needed"
    user = request["messages"][-1]["content"]
    assert "[1] 休假制度" in user and "answer in Chinese" in user


async def test_the_llm_is_told_todays_date_and_when_each_source_was_updated(tmp_path: Path) -> None:
    async with LLMStandin(["Hotels under 250 EUR [1]."]) as llm:
        before = datetime.now(UTC).date()
        await run(
            make_settings(tmp_path, llm_base_url=llm.base_url), "What is the hotel limit this year?", HITS
        )
        after = datetime.now(UTC).date()
    system, user = (m["content"] for m in llm.requests[0]["messages"])
    assert "resolve relative dates" in system and "most recently updated" in system
    told = {f"Today's date: {day.isoformat()} ({day.strftime('%A')})." for day in (before, after)}
    assert any(line in user for line in told)
    assert "[1] Expenses (updated 2024-05-01)" in user


async def test_invented_marker_is_removed_and_never_shown(tmp_path: Path) -> None:
    reply = "Receipts are needed above 25 EUR [7]. Reports go to Concur [1][12]."
    async with LLMStandin([reply], piece_size=1) as llm:
        deltas, answer = await run(make_settings(tmp_path, llm_base_url=llm.base_url), "Receipts?", HITS)
    assert answer.answer == "Receipts are needed above 25 EUR. Reports go to Concur [1]."
    shown = ""
    for delta in deltas:
        shown += delta
        assert "[7" not in shown and "[12" not in shown
    assert_citations_consistent(answer)


async def test_answer_without_citations_is_no_answer_with_closest_sources(tmp_path: Path) -> None:
    async with LLMStandin(["Probably ask your manager."]) as llm:
        _, answer = await run(make_settings(tmp_path, llm_base_url=llm.base_url), "Who approves?", HITS)
    assert answer.mode == "no_answer"
    assert answer.answer == "I couldn't find this in the sources you can access. Closest sources: [1] [2] [3]"
    assert [c.title for c in answer.citations] == ["Expenses", "Travel policy", "Vacation"]


async def test_not_found_marker_is_no_answer_and_not_shown(tmp_path: Path) -> None:
    async with LLMStandin(["NOT_FOUND"]) as llm:
        deltas, answer = await run(make_settings(tmp_path, llm_base_url=llm.base_url), "股票代码？", HITS)
    assert answer.mode == "no_answer" and answer.answer.startswith("在你有权访问的资料中")
    assert deltas == [answer.answer]  # the marker never shows; the honest text comes as one delta


@pytest.mark.parametrize("status", [500, 401])
async def test_http_error_falls_back_to_extractive(
    tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with LLMStandin(status=status) as llm:
        settings = make_settings(tmp_path, llm_base_url=llm.base_url)
        _, answer = await run(settings, "How many vacation days do employees get?", HITS)
    assert answer.mode == "extractive" and answer.citations[0].title == "Vacation"
    assert "stand-in" not in answer.answer and f"HTTP {status}" in caplog.text
    assert_citations_consistent(answer)


async def test_dead_port_falls_back_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    _, answer = await run(make_settings(tmp_path, llm_base_url=dead_url()), "Where are expenses filed?", HITS)
    assert answer.mode == "extractive" and "Concur" in answer.answer
    assert time.monotonic() - started < 5


async def test_timeout_falls_back_to_extractive(tmp_path: Path) -> None:
    async with LLMStandin(hang=True) as llm:
        started = time.monotonic()
        settings = make_settings(tmp_path, llm_base_url=llm.base_url, llm_timeout=0.5)
        _, answer = await run(settings, "Where are expenses filed?", HITS)
    assert answer.mode == "extractive" and answer.citations
    assert time.monotonic() - started < 5 and len(llm.requests) == 1


async def test_dropped_stream_falls_back_to_extractive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reply = "Expense reports go to Concur [1] within thirty days, and receipts are needed [1]."
    async with LLMStandin([reply], drop_after=4) as llm:
        with caplog.at_level(logging.WARNING):
            deltas, answer = await run(make_settings(tmp_path, llm_base_url=llm.base_url), "Expenses?", HITS)
    assert deltas and answer.mode == "extractive" and answer.citations
    assert answer.answer not in deltas  # shown text is partial generative; the Final replaces it
    assert "answering extractively" in caplog.text and "broke off mid-answer" in caplog.text
    assert_citations_consistent(answer)


async def test_no_hits_is_no_answer_without_calling_the_llm(tmp_path: Path) -> None:
    async with LLMStandin(["Navan [1]."]) as llm:
        _, answer = await run(make_settings(tmp_path, llm_base_url=llm.base_url), "How do I travel?", [])
    assert answer.mode == "no_answer" and answer.citations == [] and llm.requests == []
    assert "sources you can access" in answer.answer


async def test_without_llm_the_answer_is_extractive_in_one_delta(tmp_path: Path) -> None:
    deltas, answer = await run(
        make_settings(tmp_path), "How many vacation days do employees get per year?", HITS
    )
    assert answer.mode == "extractive" and answer.citations[0].title == "Vacation"
    assert deltas == [answer.answer]


async def test_answerer_from_plain_settings_uses_the_configured_llm(tmp_path: Path) -> None:
    async with LLMStandin(["Receipts above 25 EUR [1]."]) as llm:
        answerer = Answerer(make_settings(tmp_path, llm_base_url=llm.base_url))
        answer = await answerer.answer("Receipts?", HITS)
        await answerer.close()
    assert answer.mode == "generative" and len(llm.requests) == 1


async def test_answer_sends_history_and_api_key(tmp_path: Path) -> None:
    async with LLMStandin(["Part-timers get days pro rata [3]."]) as llm:
        settings = make_settings(tmp_path, llm_base_url=llm.base_url, llm_api_key="sk-test")
        async with Answerer(settings) as answerer:
            history = [("How long is vacation?", "28 days [1].")]
            answer = await answerer.answer("And part-time?", HITS, history)
    assert answer.answer == "Part-timers get days pro rata [1]." and answer.citations[0].title == "Vacation"
    messages = llm.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert llm.requests[0]["authorization"] == "Bearer sk-test"


async def test_complete_returns_the_whole_reply(tmp_path: Path) -> None:
    async with LLMStandin(["Hello there."]) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        text = await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert text == "Hello there." and "stream" not in llm.requests[0]


@pytest.mark.parametrize(
    ("status", "retryable", "hint"),
    [(401, False, "LORE_LLM_API_KEY"), (404, False, "LORE_LLM_MODEL"), (503, True, "HTTP 503")],
)
async def test_errors_say_how_to_fix_them(tmp_path: Path, status: int, retryable: bool, hint: str) -> None:
    async with LLMStandin(status=status) as llm:
        client = ChatClient(make_settings(tmp_path, llm_base_url=llm.base_url))
        with pytest.raises(LLMError) as caught:
            await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert caught.value.retryable is retryable and hint in str(caught.value)


async def test_unreachable_error_names_the_setting(tmp_path: Path) -> None:
    client = ChatClient(make_settings(tmp_path, llm_base_url=dead_url()))
    with pytest.raises(LLMError, match="unreachable: check LORE_LLM_BASE_URL") as caught:
        async for _ in client.stream([{"role": "user", "content": "hi"}]):
            pass
    await client.aclose()
    assert caught.value.retryable


async def test_sources_sent_to_the_llm_fit_the_token_budget(tmp_path: Path) -> None:
    long = [hit("Travel rules apply to everyone. " * 80, f"Page {i}") for i in range(4)]
    async with LLMStandin(["Rules apply [1]."]) as llm:
        await run(make_settings(tmp_path, llm_base_url=llm.base_url, context_tokens=300), "Rules?", long)
    user = llm.requests[0]["messages"][-1]["content"]
    sources = user.removeprefix("Sources:\n\n").split("\n\nToday's date:")[0]
    assert "[1] Page 0" in sources and "[2] Page 1" not in sources and count_tokens(sources) <= 300
