"""The benchmark harness itself, on tiny inputs: its measures must be right before its figures mean much."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import (
    audience,
    bot_latency,
    busy_latency,
    connectors,
    federation,
    index_speed,
    ingest_speed,
    smb_latency,
    sync_speed,
)
from bench.common import bench_settings, normalise
from bench.quality import report as quality_report
from bench.quality import sweep
from bench.quality.cases import Case, Corpus, write_domainrag
from bench.quality.peer import Bm25Peer, token_windows
from bench.quality.retrieval import MODES, PEER, SECOND
from bench.quality.rule import Read, Score, score
from bench.quality.suite import Part, Results, measure_part
from bench.retrieval import CHAR_BUDGET, Question, score_question, span_in, within_budget
from knowledge.models import Chunk, ScoredChunk
from knowledge.tokens import encoding
from tests.conftest import write_pages
from tests.llm_standin import MODEL, LLMStandin


def hit(doc: str, text: str) -> ScoredChunk:
    chunk = Chunk(
        source_id="s",
        doc_id=doc,
        chunk_no=0,
        title=doc,
        text=text,
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        acl=["public"],
    )
    return ScoredChunk(chunk=chunk, score=1.0)


@pytest.mark.parametrize(
    ("span", "text", "found"),
    [
        (
            "These channels (prefixed with `ext-`) are used",
            "these channels (prefixed with ext-) are used today",
            True,
        ),
        (
            "`#loc_4corners` | people that live in Utah",
            "Channel Name: #loc_4corners; Description: people that live in Utah, Colorado",
            True,
        ),
        ("people that live in Utah", "Utah people live that in", False),
        ("a dual career path", "a career path that is dual", False),
    ],
)
def test_span_matching_ignores_markup_not_words(span: str, text: str, found: bool) -> None:
    assert span_in(normalise(span), normalise(text)) is found


def test_hits_beyond_the_character_budget_do_not_count() -> None:
    filler = [hit("other.md", "x" * (CHAR_BUDGET // 2)) for _ in range(2)]
    gold = hit("gold.md", "the answer is here")
    question = Question(question="?", gold={"gold.md": ["the answer is here"]})
    assert len(within_budget([*filler, gold])) == 2
    assert score_question(question, [*filler, gold]) == (0.0, 0.0)
    assert score_question(question, [filler[0], gold]) == (1.0, 0.5)


async def test_index_speed_measures_both_paths(tmp_path: Path) -> None:
    speed = await index_speed.measure(tmp_path / "index", 300, queries=5)
    assert speed.chunks == 300 and speed.filtered_ms > 0 and speed.unfiltered_ms > 0


async def test_ingest_speed_reads_back_every_chunk(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n" + "Lore measures itself. " * 200)
    speed = await ingest_speed.measure([page], tmp_path / "work")
    assert speed.documents == 1 and speed.chunks >= 2 and speed.rerun_s < speed.ingest_s


async def test_sync_speed_resyncs_without_embedding_anything(tmp_path: Path, redis_url: str) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n" + "Lore syncs itself. " * 200)
    r = await sync_speed.measure([page], 200, tmp_path / "work", redis_url)
    assert r.documents == 1 and r.chunks >= 2 and r.sync_s > 0 and r.raw_embed_s > 0 and r.ratio > 0
    assert r.corpus_documents == 200 and r.corpus_chunks >= 200 and r.corpus_sync_s > 0 and r.resync_s > 0
    assert r.resync_embedded == 0 and r.resync_s < r.corpus_sync_s
    assert r.other_worker_embedded == 0 and r.other_worker_s < r.corpus_sync_s  # the second worker's re-sync


async def test_busy_latency_times_questions_idle_and_during_syncs(tmp_path: Path) -> None:
    r = await busy_latency.measure(tmp_path / "busy", documents=20, questions=3)
    assert r.phases[0].name == "idle" and len(r.phases) == 3
    assert all(p.questions > 0 and p.done_ms.p50 > 0 for p in r.phases)


async def test_bot_latency_times_every_question_and_the_whole_burst(tmp_path: Path) -> None:
    r = await bot_latency.measure(tmp_path, 300, runs=3, burst=5, warmup=1)
    assert r.raw_ms > 0 and r.hits_ms > 0 and len(r.timed) == len(bot_latency.PLACES)
    for t in r.timed:
        assert t.ack_ms.p50 > 0 and 0 < t.first_reply_ms.p50 <= t.first_text_ms.p50 <= t.done_ms.p50
    assert r.burst_acked == r.burst_answered == 5 and r.burst_max_ack_ms < 3000 and r.burst_last_s > 0


async def test_the_federation_bench_measures_all_four_cases() -> None:
    r = await federation.measure(runs=2, slow_runs=2, slow_budget=0.5)  # the healthy remote gets 2 s
    assert min(r.local_ms, r.remote_call_ms, r.healthy_ms, r.dead_ms, r.slow_later_ms) > 0
    assert 500 <= r.slow_first_ms < 2500  # a remote that never answers costs its budget, not more
    assert r.slow_later_ms < 500  # and then rests: the next questions do not wait for it
    assert r.healthy_right_first == 1.0  # hotels from here, parental leave from the remote, both first


async def test_the_connector_bench_measures_the_three_listings() -> None:
    web = await connectors.measure_web(1, ["index.html", "intro.html"])
    assert web.pages == 2 and web.same and web.warm_requests == web.cold_requests
    assert web.warm_statuses[304] >= web.pages and web.warm_bytes < web.cold_bytes
    wiki = await connectors.measure_wiki(1, 20)
    assert wiki.pages == 21 and wiki.same and wiki.incremental_walks == 0  # 20 pages and the Main Page
    assert wiki.full_requests >= 2 and wiki.incremental_requests >= 2
    smb = await connectors.measure_smb(1, 20)
    assert smb.files == 20 and smb.public and min(smb.one_file_s, smb.first_s, smb.again_s) > 0


async def test_the_smb_latency_bench_lists_the_same_over_one_or_several_connections() -> None:
    [row] = await smb_latency.measure(1, 20, [1.0])
    assert row.files == 20 and row.same and min(row.one_s, row.many_s) > 0
    assert "| 1 ms each way | 20 |" in smb_latency.report([row])


async def test_audience_bench_counts_the_calls_of_both_strategies() -> None:
    r = await audience.measure(members=120, workspace_size=150, runs=1)
    assert r.bulk.calls["users.list"] == 1 and r.bulk.calls["users.info"] == 1  # the asker, then everyone
    assert r.one_by_one.calls["users.list"] == 0 and r.one_by_one.calls["users.info"] == 119  # + Lore
    assert r.bulk.seconds and r.one_by_one.seconds and "users.list 1" in audience.report(r, "cmd")


# ----- the quality benchmark (bench/quality/): its rule, its peer and one tiny run end to end


def read(doc: str, text: str) -> Read:
    return Read(doc_id=doc, text=text)


def test_the_rule_counts_evidence_and_passages_only_inside_the_budget() -> None:
    case = Case(kind="k", question="?", gold={"gold.md": ["the answer is here", "and here too"]})
    filler = [read("other.md", "x" * (CHAR_BUDGET // 2)) for _ in range(2)]
    answer = read("gold.md", "The answer is here.")
    assert score(case, [*filler, answer]) == Score(evidence=0.0, spans=0.0, rr10=0.0, recall5=0.0)
    assert score(case, [filler[0], answer]) == Score(evidence=1.0, spans=0.5, rr10=0.5, recall5=1.0)
    passage = Case(kind="k", question="?", gold={"p1.md": [], "p2.md": []}, lang="zh")
    later = [read(f"n{i}.md", "短") for i in range(5)]
    assert score(passage, [*later, read("p2.md", "短")]).recall5 == 0.0  # sixth: not in the top 5
    assert score(passage, [read("p2.md", "短"), *later]) == Score(evidence=1, spans=0.5, rr10=1, recall5=1)


def test_a_table_row_counts_in_lores_rendering_and_in_the_pages() -> None:
    case = Case(kind="k", question="?", gold={"chat.md": ["| CISO | `#ciso` |"]})
    assert score(case, [read("chat.md", "Member: CISO; Channel: #ciso\nMember: CFO; Channel: #finance")]).rr10
    assert score(case, [read("chat.md", "| CISO | `#ciso` |")]).rr10
    assert not score(case, [read("chat.md", "Member: CFO; Channel: #ciso")]).rr10


def test_a_gold_span_with_link_targets_counts_in_lores_rendering_and_in_the_pages() -> None:
    row = "| Executive | [Chief People Officer](/job-families/people-group/chief-people/) | Division |"
    case = Case(kind="k", question="?", gold={"structure.md": [row]})
    lore = "Level: Executive; Example(s): Chief People Officer; Scope of impact: Division"
    assert score(case, [read("structure.md", lore)]).rr10
    assert score(case, [read("structure.md", row)]).rr10
    other = "Level: Executive; Example(s): Chief Legal Officer; Scope: Team"
    assert not score(case, [read("structure.md", other)]).rr10


def test_the_peer_cuts_512_token_windows_that_overlap_by_50() -> None:
    text = " ".join(f"word{i}" for i in range(1200))
    windows = [encoding().encode(w) for w in token_windows(text)]
    assert all(len(w) <= 512 for w in windows) and len(windows) >= 3
    assert windows[0][-50:] == windows[1][:50]
    assert windows[0] + [t for w in windows[1:] for t in w[50:]] == encoding().encode(text)


def test_the_peer_ranks_by_stemmed_bm25_and_jieba(tmp_path: Path) -> None:
    en, zh = tmp_path / "en", tmp_path / "zh"
    write_pages(en, {"a.md": "Hotels are reimbursed per night.", "b.md": "Channels use prefixes."})
    write_pages(zh, {"a.md": "文学院成立于1939年。", "b.md": "学费每年六千元。"})
    assert [r.doc_id for r in Bm25Peer(Corpus(name="en", lang="en", folder=en)).search("hotel")] == ["a.md"]
    assert Bm25Peer(Corpus(name="zh", lang="zh", folder=zh)).search("学费是多少")[0].doc_id == "b.md"


def test_a_domainrag_passage_is_dated_by_its_file_as_a_synced_page_would_be(tmp_path: Path) -> None:
    source, folder = tmp_path / "source", tmp_path / "docs"
    source.mkdir()
    folder.mkdir()
    lines = [
        '{"id": "a", "title": "校长", "date": "2023-12-20", "text": "林尚立"}',
        '{"id": "b", "title": "校长", "date": "2517-37-68", "text": "李文海"}',
    ]
    (source / "passages.jsonl").write_text("\n".join(lines), encoding="utf-8")
    write_domainrag(folder, source)
    dated = datetime.fromtimestamp((folder / "a.md").stat().st_mtime, UTC)
    assert dated.date().isoformat() == "2023-12-20"
    assert (folder / "a.md").read_text(encoding="utf-8") == "# 校长\n\n林尚立\n"  # the text says no date
    assert datetime.fromtimestamp((folder / "b.md").stat().st_mtime, UTC).year == datetime.now(UTC).year


def test_a_sweep_changes_one_setting_of_the_base_at_a_time() -> None:
    base = {"rrf_k": "1"}
    found = sweep.variants(base, sweep.parse(["dense_weight=0.5,0.7", "rrf_k=1,3"]))
    assert found == [base, {**base, "dense_weight": "0.5"}, {**base, "dense_weight": "0.7"}, {"rrf_k": "3"}]
    assert [sweep.label(v, base) for v in found] == [
        "base",
        "dense_weight=0.5",
        "dense_weight=0.7",
        "rrf_k=3",
    ]


TINY = {
    "chat.md": "# Chat\n\n## Channel prefixes\n\n| prefix | use |\n|---|---|\n| g_ | Group channels |\n"
    "| loc_ | Location channels |\n",
    "travel.md": "# Travel\n\n## Hotels\n\nHotel stays are reimbursable up to $300 per night.\n",
}


@pytest.mark.timeout(300)
async def test_a_tiny_quality_run_measures_every_system_and_reuses_its_index(tmp_path: Path) -> None:
    folder = write_pages(tmp_path / "pages", TINY)
    part = Part(
        corpus=Corpus(name="tiny", lang="en", folder=folder),
        cases=[
            Case(
                kind="single", question="Hotel cost per night?", gold={"travel.md": ["up to $300 per night"]}
            ),
            Case(
                kind="follow-up",
                question="And for location channels?",
                history=["What is the prefix of group channels?"],
                gold={"chat.md": ["Location channels"]},
            ),
        ],
        unanswerable={"off-topic": ["What is the boiling point of mercury?"]},
        answers=True,
    )
    first, again, answers_only = Results(), Results(), Results()
    await measure_part(tmp_path / "work", part, bench_settings(tmp_path), first)
    await measure_part(tmp_path / "work", part, bench_settings(tmp_path), again)
    await measure_part(tmp_path / "work", part, bench_settings(tmp_path), answers_only, answers_only=True)
    systems = {(r.kind, r.system) for r in first.rows}
    assert systems == {(k, s) for k in ("single", "follow-up", "all") for s in [*MODES, PEER]}
    assert all(r.evidence == 1.0 for r in first.rows if r.kind == "single" or r.system == PEER)
    assert [a.n for a in first.answers] == [2, 1] and first.timings[0].embedded > 0
    assert again.timings[0].embedded == 0 and len(list((tmp_path / "work" / "quality").iterdir())) == 1
    assert again.rows == first.rows
    assert "| tiny | single | 1 |" in quality_report.section(first, "cmd")
    assert answers_only.rows == [] and answers_only.answers == first.answers


@pytest.mark.timeout(300)
async def test_with_an_llm_the_quality_run_measures_the_second_search_it_plans(tmp_path: Path) -> None:
    folder = write_pages(tmp_path / "pages", TINY)
    gold = {"travel.md": ["up to $300 per night"]}
    hotel = Case(kind="single", question="Hotel cost per night?", gold=gold)
    part = Part(corpus=Corpus(name="tiny", lang="en", folder=folder), cases=[hotel])
    results = Results()
    async with LLMStandin(plans=["Location channels prefix"]) as llm:
        planner = bench_settings(tmp_path, llm_base_url=llm.base_url, llm_model=MODEL, llm_retries=0)
        await measure_part(tmp_path / "work", part, bench_settings(tmp_path), results, llm=planner)
    [plan] = llm.plan_requests
    assert "Hotel cost per night?" in plan["messages"][1]["content"] and llm.requests == []  # no answers
    assert {r.system for r in results.rows} == {*MODES, SECOND, PEER}
    assert [r.evidence for r in results.rows if r.system == SECOND] == [1.0]
    assert f"{SECOND} evidence / MRR@10" in quality_report.section(results, "cmd")
