"""The Knowledge API over real HTTP: keys, principals, the CLI's JSON shapes, streaming, errors, limits."""

from __future__ import annotations

import json
import re

import pytest
from qdrant_client import AsyncQdrantClient

from api.auth import Gate, Refusal
from knowledge.apikeys import ApiKey, open_keys
from knowledge.index.server import ServerIndex
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.api_harness import serving_api
from tests.bot_harness import FINANCE_WORDS
from tests.conftest import free_port
from tests.kv_helpers import FakeClock
from tests.llm_standin import LLMStandin

PAYROLL = {"query": "When does payroll run, and how big is the Zorblax bonus pool?"}


def leaks(body: object) -> list[str]:
    text = json.dumps(body)
    return [word for word in FINANCE_WORDS if word in text]


@pytest.mark.parametrize(
    "header", [None, "Basic abc", "Bearer nonsense", "Bearer lore_0123456789ab_" + "x" * 43]
)
async def test_a_missing_or_wrong_key_gets_401(
    loaded_kb: Knowledge, settings: Settings, header: str | None
) -> None:
    async with serving_api(loaded_kb, settings) as api:
        await api.key("agent", [])
        headers = {"Authorization": header} if header else {}
        status, body = await api.post("/v1/search", PAYROLL, None, headers)
    assert status == 401
    assert body["error"] == "unauthorized" and "apikey" in body["message"]


async def test_a_revoked_key_gets_401(loaded_kb: Knowledge, settings: Settings) -> None:
    async with serving_api(loaded_kb, settings) as api:
        key = await api.key("agent", [])
        assert (await api.post("/v1/search", PAYROLL, key))[0] == 200
        await api.keys.revoke("agent")
        status, body = await api.post("/v1/search", PAYROLL, key)
    assert status == 401 and "revoked" in body["message"]


async def test_search_shows_only_what_the_key_may_read(loaded_kb: Knowledge, settings: Settings) -> None:
    async with serving_api(loaded_kb, settings) as api:
        public = await api.key("public-agent", [])
        finance = await api.key("finance-agent", ["group:finance"])
        status, seen_public = await api.post("/v1/search", PAYROLL, public)
        _, seen_finance = await api.post("/v1/search", PAYROLL, finance)
    assert status == 200
    assert seen_public["results"] and not leaks(seen_public)
    assert seen_finance["results"][0]["doc_id"] == "payroll.md"
    assert set(seen_finance["results"][0]) >= {
        "doc_id",
        "chunk_id",
        "source",
        "title",
        "url",
        "text",
        "score",
    }


async def test_answer_has_the_shape_of_lore_ask_json(loaded_kb: Knowledge, settings: Settings) -> None:
    async with serving_api(loaded_kb, settings) as api:
        public = await api.key("public-agent", [])
        finance = await api.key("finance-agent", ["group:finance"])
        _, for_public = await api.post("/v1/answer", {"question": PAYROLL["query"]}, public)
        status, for_finance = await api.post("/v1/answer", {"question": PAYROLL["query"]}, finance)
    assert status == 200
    assert set(for_finance) == {"answer", "mode", "citations", "skipped", "looked_up"}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", for_finance["answer"])}
    assert cited == {c["n"] for c in for_finance["citations"]} and "Zorblax" in json.dumps(for_finance)
    assert not leaks(for_public)


@pytest.mark.parametrize("ask_for_events", ["body", "accept"])
async def test_a_streamed_answer_ends_with_the_same_answer(
    loaded_kb: Knowledge, settings: Settings, ask_for_events: str
) -> None:
    reply = "Travel is booked through Navan [1]. Hotels are reimbursed up to 200 euros a night [1]."
    async with LLMStandin(replies=[reply]) as llm:
        with_llm = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "standin-1"})
        kb = Knowledge(with_llm, loaded_kb.index, loaded_kb.embedder)
        async with serving_api(kb, with_llm) as api:
            key = await api.key("agent", [])
            question = {"question": "How do I book travel?"}
            _, whole = await api.post("/v1/answer", question, key)
            if ask_for_events == "body":
                events = await api.events("/v1/answer", {**question, "stream": True}, key)
            else:
                events = await api.events_with_accept("/v1/answer", question, key)
        await kb.answerer.close()
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 3 and "".join(deltas).strip() == whole["answer"]
    assert events[-1] == ("final", whole) and whole["mode"] == "generative"


async def test_an_answer_says_what_the_llms_second_search_looked_up(
    loaded_kb: Knowledge, settings: Settings
) -> None:
    plan = "Meals on business trips"
    async with LLMStandin(replies=["Up to 75 euros a day [1]."], plans=[plan]) as llm:
        with_llm = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "standin-1"})
        kb = Knowledge(with_llm, loaded_kb.index, loaded_kb.embedder)
        async with serving_api(kb, with_llm) as api:
            key = await api.key("agent", [])  # public only: the finance page is not the key's
            question = {"question": "How do I book travel?"}
            _, whole = await api.post("/v1/answer", question, key)
            events = await api.events("/v1/answer", {**question, "stream": True}, key)
        await kb.answerer.close()
    assert whole["looked_up"] == [plan] and events[-1] == ("final", whole)
    assert len(llm.plan_requests) == 2 and leaks(whole) == []
    assert leaks(llm.requests) == [] and leaks(llm.plan_requests) == []


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{not json", 400, "invalid_json", None),
        ([1, 2], 400, "invalid_json", None),
        ({}, 422, "invalid_request", "query"),
        ({"query": "   "}, 422, "invalid_request", "query"),
        ({"query": 5}, 422, "invalid_request", "query"),
        ({"query": "travel", "k": 0}, 422, "invalid_request", "k"),
        ({"query": "travel", "k": 2.5}, 422, "invalid_request", "k"),
        ({"query": "travel", "as_user": "ceo@example.com"}, 422, "invalid_request", "as_user"),
        ({"query": "x" * 2001}, 422, "invalid_request", "query"),
    ],
)
async def test_invalid_requests_get_specific_errors(
    loaded_kb: Knowledge, settings: Settings, body: object, status: int, code: str, field: str | None
) -> None:
    async with serving_api(loaded_kb, settings) as api:
        key = await api.key("agent", [])
        got, reply = await api.post("/v1/search", body, key)
    assert (got, reply["error"]) == (status, code)
    if field is not None:
        assert [f["field"] for f in reply["fields"]] == [field] and field in reply["message"]


async def test_each_key_has_its_own_rate_limit(
    loaded_kb: Knowledge, settings: Settings, store: KeyValue
) -> None:
    async with serving_api(loaded_kb, settings, store) as api:
        limited = await api.key("limited", [], rate=2)
        other = await api.key("other", [], rate=2)
        statuses = [(await api.post("/v1/search", PAYROLL, limited))[0] for _ in range(3)]
        async with api.http.post(
            api.url + "/v1/search", json=PAYROLL, headers={"Authorization": f"Bearer {limited}"}
        ) as refused:
            retry_after = int(refused.headers["Retry-After"])
            body = await refused.json()
        other_status, _ = await api.post("/v1/search", PAYROLL, other)
    assert statuses == [200, 200, 429] and refused.status == 429
    assert 1 <= retry_after <= 91 and body["error"] == "rate_limited"  # this minute, then half the next
    assert other_status == 200


async def test_a_burst_across_the_turn_of_a_minute_is_refused(
    settings: Settings, store: KeyValue, clock: FakeClock
) -> None:
    api_keys = open_keys(settings, store)
    _, secret = await api_keys.create("bursty", [], 2, "test")
    gate = Gate(api_keys, store, clock=clock)
    clock.now = 60 * 1000 + 59.5  # half a second before a minute turns
    first = [await gate.admit(f"Bearer {secret}") for _ in range(2)]
    clock.advance(1)  # the third request falls into the next minute
    third = await gate.admit(f"Bearer {secret}")
    assert isinstance(third, Refusal) and third.status == 429 and third.retry_after
    clock.advance(third.retry_after - 1.5)  # just before the time it names: still too early
    early = await gate.admit(f"Bearer {secret}")
    clock.advance(1.5)  # at the time it names: in
    later = await gate.admit(f"Bearer {secret}")
    assert all(isinstance(k, ApiKey) for k in first) and isinstance(later, ApiKey)
    assert isinstance(early, Refusal)


async def test_the_openapi_document_is_served_without_a_key(loaded_kb: Knowledge, settings: Settings) -> None:
    async with serving_api(loaded_kb, settings) as api, api.http.get(api.url + "/openapi.json") as response:
        document = await response.json()
    assert response.status == 200 and document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/v1/search", "/v1/answer"}
    assert "text/event-stream" in document["paths"]["/v1/answer"]["post"]["responses"]["200"]["content"]


async def test_an_index_that_is_down_gives_503_not_500(loaded_kb: Knowledge, settings: Settings) -> None:
    dead = ServerIndex(AsyncQdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1), "lore", 384)
    kb = Knowledge(settings, dead, loaded_kb.embedder)
    async with serving_api(kb, settings) as api:
        key = await api.key("agent", [])
        status, body = await api.post("/v1/search", PAYROLL, key)
        events = await api.events("/v1/answer", {"question": "travel?", "stream": True}, key)
    await dead.close()
    assert status == 503 and body["error"] == "unavailable" and "index" in body["message"]
    assert [name for name, _ in events] == ["error"] and events[0][1]["error"] == "unavailable"
