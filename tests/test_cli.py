"""The `lore` console script, run as a user runs it (a subprocess), on the embedded defaults."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.llm_standin import LLMStandin

LORE = str(Path(sys.executable).parent / "lore")


def lore(*args: str, cwd: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    return subprocess.run(
        [LORE, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, "LORE_DATA_DIR": str(cwd / "data"), **env},
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with public and finance pages, ingested through the CLI."""
    home = tmp_path_factory.mktemp("cli")
    (home / "wiki").mkdir()
    (home / "wiki" / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    (home / "wiki" / "laptops.md").write_text("# Laptops\n\nNew hires receive a laptop on their first day.\n")
    (home / "fin").mkdir()
    (home / "fin" / "budget.md").write_text("# Budget\n\nThe acquisition budget is 42 million euros.\n")
    assert lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=home).returncode == 0
    assert lore("ingest", "fin", "--source", "fin", "--access", "group:finance", cwd=home).returncode == 0
    return home


def test_ingest_prints_the_summary_and_is_incremental(indexed: Path) -> None:
    run = lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=indexed)
    assert run.returncode == 0
    assert "0 added, 0 updated, 2 unchanged, 0 deleted, 0 failed, 0 chunks" in run.stdout


@pytest.mark.parametrize("access", [["--access", "everyone"], ["--access", "group:"], []])
def test_ingest_rejects_bad_access_with_a_fix(indexed: Path, access: list[str]) -> None:
    run = lore("ingest", "wiki", "--source", "wiki", *access, cwd=indexed)
    assert run.returncode == 2
    assert "--access" in run.stderr
    assert "group:NAME" in run.stderr or "required" in run.stderr


def test_ingest_reports_bad_files_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.md").write_text("# Good\n\nThis page is fine.\n")
    (tmp_path / "docs" / "empty.txt").write_text("")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 garbage \x00\x01\x02")
    run = lore("ingest", "docs", "--source", "docs", "--access", "public", "--json", cwd=tmp_path)
    summary = json.loads(run.stdout)
    assert run.returncode == 1
    assert (summary["added"], summary["failed"]) == (1, 2)
    assert {e["doc_id"] for e in summary["errors"]} == {"empty.txt", "broken.pdf"}


def test_search_json_contract_and_access(indexed: Path) -> None:
    run = lore("search", "acquisition budget", "--json", cwd=indexed)
    results = json.loads(run.stdout)["results"]
    assert results and all(r["source"] != "fin" for r in results)
    assert set(results[0]) == {"doc_id", "chunk_id", "source", "title", "url", "text", "score"}
    run = lore("search", "acquisition budget", "--groups", "finance", "--json", "-k", "1", cwd=indexed)
    assert [r["doc_id"] for r in json.loads(run.stdout)["results"]] == ["budget.md"]


def test_ask_json_contract(indexed: Path) -> None:
    run = lore("ask", "How many days of paid holiday do we get?", "--json", cwd=indexed)
    answer = json.loads(run.stdout)
    assert answer["mode"] == "extractive" and "25 days" in answer["answer"]
    assert set(answer["citations"][0]) == {"n", "doc_id", "source", "title", "url", "snippet", "score"}
    for citation in answer["citations"]:
        assert f"[{citation['n']}]" in answer["answer"]


def test_search_from_stdin_prints_one_json_line_per_query(indexed: Path) -> None:
    run = lore("search", "-", "-k", "1", cwd=indexed, stdin="paid holiday\n\nlaptop for new hires\n")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["results"][0]["doc_id"] for line in lines] == ["holidays.md", "laptops.md"]


def test_doctor_masks_secrets_and_checks_services(indexed: Path, redis_url: str) -> None:
    run = lore("doctor", cwd=indexed, LORE_REDIS_URL=redis_url, LORE_LLM_API_KEY="sk-supersecretvalue123")
    assert run.returncode == 0, run.stdout
    assert "sk-supersecretvalue123" not in run.stdout and "sk-s…" in run.stdout
    assert "ok  redis" in run.stdout and "ok  index" in run.stdout


def test_doctor_names_the_fix_of_a_dead_service(indexed: Path) -> None:
    run = lore("doctor", cwd=indexed, LORE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert run.returncode == 1
    assert "FAIL redis" in run.stdout and "fix: check LORE_REDIS_URL" in run.stdout


def test_chat_answers_with_sources_and_says_how_to_connect(indexed: Path) -> None:
    run = lore("chat", cwd=indexed, stdin="How many days of paid holiday do we get?\nand laptops?\n\n")
    assert run.returncode == 0, run.stderr
    assert "LORE_LLM_BASE_URL" in run.stdout and "SLACK_BOT_TOKEN" in run.stdout
    assert "25 days" in run.stdout and "Sources:" in run.stdout and "holidays.md" in run.stdout


def test_ask_reports_an_unusable_index_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "index").write_text("not a folder")
    run = lore("ask", "anything", cwd=tmp_path)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "lore doctor" in run.stderr


async def lore_async(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """`lore` in a subprocess without blocking the event loop that serves the LLM stand-in."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    proc = await asyncio.create_subprocess_exec(
        LORE,
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, "LORE_DATA_DIR": str(cwd / "data"), **env},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode()


async def test_ask_with_an_llm_streams_a_generative_cited_answer(indexed: Path) -> None:
    reply = "Everyone gets 25 days of paid holiday [1], as the budget says [9]."
    async with LLMStandin(replies=[reply]) as llm:
        code, out = await lore_async(
            "ask",
            "How many days of paid holiday?",
            "--json",
            cwd=indexed,
            LORE_LLM_BASE_URL=llm.base_url,
            LORE_LLM_MODEL="standin-1",
        )
        answer = json.loads(out)
        assert code == 0 and answer["mode"] == "generative"
        assert answer["answer"] == "Everyone gets 25 days of paid holiday [1], as the budget says."
        assert [c["doc_id"] for c in answer["citations"]] == ["holidays.md"]
        code, out = await lore_async(
            "ask",
            "How many days of paid holiday?",
            cwd=indexed,
            LORE_LLM_BASE_URL=llm.base_url,
            LORE_LLM_MODEL="standin-1",
        )
        assert "25 days of paid holiday [1]" in out and "[9]" not in out and "Sources:" in out
        prompt = llm.requests[0]["messages"][-1]["content"]
        assert "25 days of paid holiday" in prompt and "42 million" not in prompt  # finance never sent


def test_ask_from_stdin_prints_one_answer_per_line(indexed: Path) -> None:
    run = lore("ask", "-", cwd=indexed, stdin="How many days of paid holiday?\nWhat is the wifi password?\n")
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert [a["mode"] for a in answers] == ["extractive", "no_answer"]
    assert answers[0]["question"] == "How many days of paid holiday?"
