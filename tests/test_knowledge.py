"""Search and ask through the knowledge base, on both index backends: access, languages, answers."""

from pathlib import Path

import pytest

from ingestion.connectors.files import FilesConnector
from ingestion.sync import SyncEngine
from knowledge.access import Principal
from knowledge.service import Knowledge

FINANCE = "# Budget 2027\n\nThe secret acquisition budget for 2027 is 42 million euros.\n"
PUBLIC = {
    "handbook.md": "# Handbook\n\n## Holidays\n\nEveryone gets 25 days of paid holiday per year.\n\n"
    "## Budget process\n\nBudgets are proposed by each team in October.\n",
    "zh.md": "# 报销制度\n\n员工的差旅费用在审批后三十天内报销。\n",
}


@pytest.fixture
async def loaded(engine: SyncEngine, kb: Knowledge, tmp_path: Path) -> Knowledge:
    public, finance = tmp_path / "public", tmp_path / "finance"
    public.mkdir()
    finance.mkdir()
    for name, text in PUBLIC.items():
        (public / name).write_text(text, encoding="utf-8")
    (finance / "budget.md").write_text(FINANCE, encoding="utf-8")
    await engine.sync("wiki", FilesConnector([public], ["public"]))
    await engine.sync("finance", FilesConnector([finance], ["group:finance"]))
    return kb


OUTSIDERS = [Principal.anonymous(), Principal.of(groups=["eng"])]


@pytest.mark.parametrize("who", OUTSIDERS, ids=["public", "eng"])
async def test_search_never_shows_finance_to_outsiders(loaded: Knowledge, who: Principal) -> None:
    for query in ("secret acquisition budget 2027", "how much is the acquisition budget?"):
        results = await loaded.search(query, who, k=20)
        assert results and all(r.source != "finance" for r in results)


@pytest.mark.parametrize("who", OUTSIDERS, ids=["public", "eng"])
async def test_ask_never_cites_or_quotes_finance(loaded: Knowledge, who: Principal) -> None:
    answer = await loaded.ask("What is the acquisition budget for 2027?", who)
    assert all(c.source != "finance" for c in answer.citations)
    assert "42" not in answer.answer


async def test_finance_member_finds_it(loaded: Knowledge) -> None:
    who = Principal.of(groups=["finance"])
    [top] = await loaded.search("secret acquisition budget 2027", who, k=1)
    assert (top.source, top.doc_id) == ("finance", "budget.md")
    answer = await loaded.ask("What is the acquisition budget for 2027?", who)
    assert answer.mode == "extractive" and "42 million" in answer.answer
    assert answer.citations[0].doc_id == "budget.md"


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("how many days of paid holiday do I get?", "handbook.md"),
        ("差旅费用多久报销？", "zh.md"),
    ],
)
async def test_english_and_chinese_queries(loaded: Knowledge, query: str, doc: str) -> None:
    [top] = await loaded.search(query, Principal.anonymous(), k=1)
    assert top.doc_id == doc


async def test_unanswerable_question_is_no_answer(loaded: Knowledge) -> None:
    answer = await loaded.ask("What is the wifi password of the Lisbon office?", Principal.anonymous())
    assert answer.mode == "no_answer"


FOLLOW_UP = {
    "chat.md": "# Executive channels\n\nTo reach an executive on Slack, use their channel.\n\n"
    "| Member | Channel |\n| --- | --- |\n| CEO | #ceo |\n| CLO | #legal |\n| CISO | #ciso |\n",
    "queue.md": "# Slack channel etiquette\n\nIn a busy Slack channel the last one to reply is the next one "
    "to ask: one by one, the last one waits and the next one goes. And the last one closes the thread.\n",
}


async def test_a_follow_ups_references_are_answered_but_not_searched(
    engine: SyncEngine, kb: Knowledge, tmp_path: Path
) -> None:
    for name, text in FOLLOW_UP.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    await engine.sync("wiki", FilesConnector([tmp_path], ["public"]))
    history = [("What is the Slack channel for the CLO?", "The CLO's channel is #legal [1].")]
    standalone = await kb.standalone("And the last one?", history)
    assert standalone.search == "Slack channel CLO"
    assert standalone.question == "Slack channel CLO And the last one?"
    # control: searched as written, "last" and "one" bring the etiquette page first
    as_written = await kb.retrieve(standalone.question, Principal.anonymous(), federate=False)
    assert as_written.hits[0].chunk.doc_id == "queue.md"
    answer = await kb.ask("And the last one?", Principal.anonymous(), history, federate=False)
    assert [c.doc_id for c in answer.citations][:1] == ["chat.md"]
    assert "#ciso" in answer.answer


async def test_spaces_around_a_question_do_not_change_its_hits(loaded: Knowledge) -> None:
    asked = "how many days of paid holiday do I get?"
    plain = (await loaded.retrieve(asked, Principal.anonymous(), k=3, federate=False)).hits
    assert plain and plain[0].chunk.doc_id == "handbook.md"
    spaced = (await loaded.retrieve(f"  {asked} \n", Principal.anonymous(), k=3, federate=False)).hits
    assert [(h.chunk.id, h.similarity) for h in spaced] == [(h.chunk.id, h.similarity) for h in plain]
