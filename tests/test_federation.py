"""Federated search: two Lore instances on loopback, the local one asking the remote's `/v1/search` at
question time. Access holds on both sides; a slow, dead or refusing remote is skipped and named."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from bot import render
from bot.admin.source_input import FormError, fields_from_line, source_from_fields
from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParsePool
from ingestion.state import FileSyncState
from ingestion.sync import SyncEngine
from ingestion.worker import WorkerContext, run_sync
from knowledge.access import Principal
from knowledge.embedding.cache import CachedEmbedder, EmbeddingCache
from knowledge.embedding.local import LocalEmbedder
from knowledge.federation import Federation
from knowledge.hosts import HostGuard
from knowledge.index.server import ServerIndex
from knowledge.jobs import JobRequest
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Credentials, FileRegistry, Source
from lore.runtime import sync_engine
from tests.api_harness import ApiHarness, serving_api, silent_lore
from tests.conftest import free_port, write_pages
from tests.llm_standin import LLMStandin

HR_PAGES = {
    "leave.md": "# Parental leave\n\nParents get 16 weeks of paid parental leave, to be taken in the first "
    "year.\n",
}
CASES_PAGES = {"case-17.md": "# Case 17\n\nThe Quiblix grievance is handled by the works council.\n"}
STAFF = Principal.of(groups=["staff"])
LOOPBACK = HostGuard(["127.0.0.1"])  # both Lores listen there
LEAVE = "How many weeks of parental leave do parents get?"


@pytest.fixture
async def remote(
    tmp_path: Path, local_model: LocalEmbedder, shared_vectors: EmbeddingCache
) -> AsyncIterator[ApiHarness]:
    """The remote Lore: its handbook for employees, its cases for HR only, served on a free port."""
    settings = Settings(data_dir=tmp_path / "remote", _env_file=None)  # type: ignore[call-arg]
    index = ServerIndex(AsyncQdrantClient(location=":memory:"), "lore", 384)
    await index.ensure()
    kb = Knowledge(settings, index, CachedEmbedder(local_model, shared_vectors))
    state = FileSyncState(tmp_path / "remote-state.sqlite")
    engine = sync_engine(kb, ParsePool(workers=0), state)
    await engine.sync(
        "hr-handbook", FilesConnector([write_pages(tmp_path / "hr", HR_PAGES)], ["group:employees"])
    )
    await engine.sync(
        "hr-cases", FilesConnector([write_pages(tmp_path / "cases", CASES_PAGES)], ["group:hr"])
    )
    await state.close()
    async with serving_api(kb, settings) as api:
        yield api
    await kb.answerer.close()
    await index.close()


async def federated(
    local: Knowledge,
    tmp_path: Path,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    budget: float = 2.0,
) -> Knowledge:
    """The local Lore with a lore-remote source `hr-lore` at `url`, readable here by group:staff."""
    monkeypatch.setenv("LORE_SECRET_HR_LORE_KEY", key)
    registry = FileRegistry(tmp_path / "local-sources.json")
    await registry.put(
        Source(
            id="hr-lore",
            kind="lore-remote",
            location=[url],
            access=["group:staff"],
            credentials=Credentials(env="LORE_SECRET_HR_LORE_KEY"),
        )
    )
    federation = Federation(registry, budget, guard=LOOPBACK)
    return Knowledge(local.settings, local.index, local.embedder, federation)


async def release(kb: Knowledge) -> None:
    """Close what `federated` opened (the index and embedder stay the fixture's)."""
    assert kb.federation is not None
    await kb.federation.close()
    await kb.answerer.close()


async def test_remote_results_are_fused_and_marked_with_the_remote(
    loaded_kb: Knowledge, remote: ApiHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await remote.key("hq", ["group:employees"])
    kb = await federated(loaded_kb, tmp_path, remote.url, monkeypatch, key)
    found = await kb.retrieve("parental leave weeks and hotel reimbursement per night", STAFF)
    answer = await kb.ask(LEAVE, STAFF)
    await release(kb)
    sources = {(h.chunk.source_id, h.chunk.doc_id) for h in found.hits}
    assert ("hr-lore", "hr-handbook/leave.md") in sources
    assert ("handbook", "expenses.md") in sources and found.skipped == []
    assert "16 weeks" in answer.answer
    assert (answer.citations[0].source, answer.citations[0].doc_id) == ("hr-lore", "hr-handbook/leave.md")


async def test_the_remote_key_limits_what_comes_back(
    loaded_kb: Knowledge, remote: ApiHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await remote.key("hq", ["group:employees"])  # not group:hr: the cases stay at the remote
    kb = await federated(loaded_kb, tmp_path, remote.url, monkeypatch, key)
    admin_here = Principal.of(groups=["staff", "hr", "finance"])
    found = await kb.retrieve("Quiblix grievance works council", admin_here)
    await release(kb)
    # the remote answered, with what its key may read only
    assert remote.served == ["/v1/search"] and found.skipped == []
    assert ("hr-lore", "hr-handbook/leave.md") in {(h.chunk.source_id, h.chunk.doc_id) for h in found.hits}
    assert "Quiblix" not in json.dumps([h.chunk.model_dump(mode="json") for h in found.hits])


async def test_the_second_search_does_not_carry_local_words_to_the_remote(
    loaded_kb: Knowledge, remote: ApiHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await remote.key("hq", ["group:employees"])
    async with LLMStandin(["Parents get 16 weeks [1]."], plans=["Zorblax bonus pool payroll"]) as llm:
        tuned = loaded_kb.settings.model_copy(update={"llm_base_url": llm.base_url, "llm_retries": 0})
        local = Knowledge(tuned, loaded_kb.index, loaded_kb.embedder)
        kb = await federated(local, tmp_path, remote.url, monkeypatch, key)
        answer = await kb.ask(LEAVE, STAFF)
        await release(kb)
        await local.answerer.close()
    # the plan was made and searched here; the remote was asked once, with the question only
    assert len(llm.plan_requests) == 1 and "16 weeks" in answer.answer
    assert remote.served == ["/v1/search"]


async def test_who_may_not_use_the_remote_never_reaches_it(
    loaded_kb: Knowledge, remote: ApiHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await remote.key("hq", ["group:employees"])
    kb = await federated(loaded_kb, tmp_path, remote.url, monkeypatch, key)
    found = await kb.retrieve(LEAVE, Principal.anonymous())
    await release(kb)
    assert all(h.chunk.source_id != "hr-lore" for h in found.hits)
    assert found.skipped == [] and remote.served == []  # not asked, not even named


async def test_a_dead_remote_is_skipped_and_named(
    loaded_kb: Knowledge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = await federated(loaded_kb, tmp_path, f"http://127.0.0.1:{free_port()}", monkeypatch, "lore_x")
    answer = await kb.ask("How are hotels reimbursed?", STAFF)
    await release(kb)
    assert answer.skipped == ["hr-lore"] and "200 euros" in answer.answer


async def test_a_slow_remote_costs_its_budget_once_then_rests(
    loaded_kb: Knowledge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[float] = []
    async with silent_lore(asked) as silent:
        kb = await federated(loaded_kb, tmp_path, silent, monkeypatch, "lore_x", budget=0.5)
        assert kb.federation is not None
        now = [1000.0]
        kb.federation = Federation(
            kb.federation.registry, 0.5, cooldown=30.0, clock=lambda: now[0], guard=LOOPBACK
        )
        await loaded_kb.retrieve("warm up", STAFF)  # the model and jieba load once, outside the timing
        timings = []
        for advance in (0.0, 10.0, 25.0):  # asked, resting, asked again after the rest
            now[0] += advance
            started = time.monotonic()
            found = await kb.retrieve("How are hotels reimbursed?", STAFF)
            timings.append(time.monotonic() - started)
            assert found.skipped == ["hr-lore"] and found.hits
        await release(kb)
    assert len(asked) == 2  # not during the rest
    assert 0.5 <= timings[0] < 1.5 and timings[1] < 0.5 and 0.5 <= timings[2] < 1.5


async def test_a_refused_key_is_skipped_and_the_check_says_why(
    loaded_kb: Knowledge, remote: ApiHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await remote.key("hq", ["group:employees"])
    await remote.keys.revoke("hq")
    kb = await federated(loaded_kb, tmp_path, remote.url, monkeypatch, key)
    found = await kb.retrieve(LEAVE, STAFF)
    assert kb.federation is not None
    status = await kb.federation.probe((await kb.federation.remotes(STAFF))[0])
    await release(kb)
    assert found.skipped == ["hr-lore"]
    assert status.ok is False and "refused the API key" in status.summary


async def test_access_holds_on_both_sides_through_both_apis(
    loaded_kb: Knowledge,
    remote: ApiHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    key = await remote.key("hq", ["group:employees"])
    kb = await federated(loaded_kb, tmp_path, remote.url, monkeypatch, key)
    async with serving_api(kb, settings) as local:
        staff = await local.key("staff-agent", ["group:staff"])
        outsider = await local.key("outsider-agent", [])
        _, for_staff = await local.post("/v1/search", {"query": LEAVE}, staff)
        _, for_outsider = await local.post("/v1/search", {"query": LEAVE}, outsider)
        _, answered = await local.post("/v1/answer", {"question": LEAVE}, staff)
    await release(kb)
    assert for_staff["results"][0]["source"] == "hr-lore" and for_staff["skipped"] == []
    assert all(r["source"] != "hr-lore" for r in for_outsider["results"])
    assert answered["citations"][0]["source"] == "hr-lore"


def test_slack_names_the_remotes_that_were_skipped() -> None:
    from knowledge.models import Answer

    answer = Answer(
        answer="Hotels up to 200 euros [1].", mode="extractive", citations=[], skipped=["hr-lore"]
    )
    blocks = render.answer_blocks(answer, answer_id="a1", now=datetime.now(UTC))
    texts = json.dumps(blocks)
    assert "Not searched this time: `hr-lore` did not answer in time." in texts
    assert "skipped" not in answer.model_dump()  # `lore ask --json` keeps its shape


def test_a_remote_is_added_with_the_one_line_form() -> None:
    words = [
        "lore-remote",
        "hr-lore",
        "https://lore.hr.example.com/",
        "access=group:staff",
        "credentials=HR_KEY",
    ]
    source = source_from_fields(*fields_from_line(words), added_by="U1")
    assert (source.kind, source.location, source.access) == (
        "lore-remote",
        ["https://lore.hr.example.com"],
        ["group:staff"],
    )
    assert source.credentials is not None and source.credentials.env == "HR_KEY"


@pytest.mark.parametrize(
    ("words", "field", "message"),
    [
        (["lore-remote", "hr", "lore.hr.example.com", "access=public", "credentials=K"], "location", "URL"),
        (["lore-remote", "hr", "https://lore.hr", "access=public"], "credentials", "Required"),
    ],
)
def test_a_wrong_remote_gets_a_specific_error(words: list[str], field: str, message: str) -> None:
    with pytest.raises(FormError) as refused:
        source_from_fields(*fields_from_line(words), added_by="U1")
    assert message in refused.value.errors[field]


async def test_the_worker_checks_a_remote_instead_of_syncing_it(
    remote: ApiHarness,
    tmp_path: Path,
    engine: SyncEngine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = await remote.key("hq", ["group:employees"])
    monkeypatch.setenv("LORE_SECRET_HR_LORE_KEY", key)
    registry = FileRegistry(tmp_path / "local-sources.json")
    told: list[str] = []

    async def notify(user: str | None, text: str) -> None:
        told.append(text)

    context = WorkerContext(settings=settings, engine=engine, registry=registry, notify=notify)
    for url in (remote.url, f"http://127.0.0.1:{free_port()}"):
        source = Source(
            id="hr-lore",
            kind="lore-remote",
            location=[url],
            access=["group:staff"],
            credentials=Credentials(env="LORE_SECRET_HR_LORE_KEY"),
        )
        await registry.put(source)
        await run_sync(context, JobRequest(source_id="hr-lore", requested_by="UADMIN"))
        record = await registry.get("hr-lore")
        assert record is not None
        assert record.status.ok is (url == remote.url) and record.status.last_sync is not None
    assert await engine.index.count("hr-lore") == 0  # nothing of the remote is stored here
    assert "it answers" in told[0] and "does not answer" in told[1] and "cannot be reached" in told[1]
