"""`lore serve` and the terminal commands that reach it, as a user runs them: real subprocesses."""

import asyncio
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import aiohttp
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.bot_harness import BOB, SECRET
from tests.conftest import free_port
from tests.slack_standin import SlackStandin, event_body, signed_request
from tests.test_cli import LORE, lore, lore_async

TIMEOUT = 120


def serve_env(home: Path, **env: str) -> dict[str, str]:
    """The environment of `lore serve` in `home`: free ports, nothing of the caller's LORE_ or SLACK_."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    ports = {f"LORE_{name}_PORT": str(free_port()) for name in ("API", "HTTP", "MCP")}
    return {**clean, "LORE_DATA_DIR": str(home / "data"), **ports, **env}


def start_serve(home: Path, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`lore -v serve` in `home` on free ports; returns once it serves (its stderr goes to serve.log)."""
    log = home / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [LORE, "-v", "serve"],
            cwd=home,
            env=serve_env(home, **env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + TIMEOUT
    while not serving(log):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return proc, log


def serving(log: Path) -> bool:
    return "Ctrl-C or SIGTERM stops it" in log.read_text()


class Served(NamedTuple):
    home: Path
    api: str  # the Knowledge API's URL
    log: Path  # serve's stderr
    mcp_key: str  # the key MCP answers as (finance)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A running `lore serve` (MCP as a finance key created before it started) and folders to ingest."""
    home = tmp_path_factory.mktemp("serve")
    (home / "wiki").mkdir()
    (home / "wiki" / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    (home / "fin").mkdir()
    (home / "fin" / "budget.md").write_text("# Budget\n\nThe acquisition budget is 42 million euros.\n")
    created = lore("apikey", "create", "agent", "--access", "group:finance", cwd=home)
    assert created.returncode == 0, created.stderr
    proc, log = start_serve(home, LORE_MCP_KEY=created.stdout.strip())
    api = next(line.split()[2] for line in log.read_text().splitlines() if "Knowledge API:" in line)
    try:
        yield Served(home, api, log, created.stdout.strip())
    finally:
        assert stop(proc) == 0, log.read_text()
        assert not (home / "data" / "serve.json").exists()  # withdrawn when it stops


@pytest.fixture(scope="module")
def ingested(served: Served) -> Served:
    """Both folders ingested through the running serve (relative paths, typed in another folder)."""
    home = served.home
    (home / "elsewhere").mkdir()
    for folder, access in (("wiki", "public"), ("fin", "group:finance")):
        run = lore(
            "ingest",
            f"../{folder}",
            *("--source", folder, "--access", access),
            cwd=home / "elsewhere",
            LORE_DATA_DIR=str(home / "data"),
        )
        assert run.returncode == 0, run.stderr
        assert "1 added" in run.stdout
    return served


def test_terminal_commands_run_inside_serve_with_access_enforced(ingested: Served) -> None:
    home, log = ingested.home, ingested.log
    public = lore("search", "acquisition budget", "--json", cwd=home)
    finance = lore("search", "acquisition budget", "--json", "--groups", "finance", cwd=home)
    assert public.returncode == 0 and finance.returncode == 0, public.stderr + finance.stderr
    assert "budget.md" not in public.stdout  # not readable without the group
    assert [r["doc_id"] for r in json.loads(finance.stdout)["results"]][:1] == ["budget.md"]
    answer = lore("ask", "How many days of paid holiday?", cwd=home)
    assert answer.returncode == 0 and "25 days" in answer.stdout and "Sources:" in answer.stdout
    listed = lore("sources", "list", cwd=home)
    assert {line.split("\t")[0] for line in listed.stdout.splitlines()} == {"wiki", "fin"}
    synced = lore("sources", "sync", "wiki", cwd=home)
    assert synced.returncode == 0 and "1 unchanged" in synced.stdout
    ran = log.read_text()
    for command in ("ingest", "search", "ask", "sources"):
        assert f"ran `lore {command}` for a terminal: exit code 0" in ran


def test_a_command_line_error_is_said_by_serve_with_its_exit_code(ingested: Served) -> None:
    run = lore("sources", "sync", "nope", cwd=ingested.home)
    assert run.returncode == 2
    assert "unknown source 'nope'; known: " in run.stderr
    assert "ran `lore sources` for a terminal: exit code 2" in ingested.log.read_text()


def test_standard_input_is_relayed_line_by_line(ingested: Served) -> None:
    run = lore("search", "-", cwd=ingested.home, stdin="paid holiday\nacquisition budget\n")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 0, run.stderr
    assert [line["query"] for line in lines] == ["paid holiday", "acquisition budget"]
    assert lines[0]["results"][0]["doc_id"] == "holidays.md"
    assert all(r["doc_id"] != "budget.md" for r in lines[1]["results"])  # public asker


async def test_a_key_made_in_the_terminal_works_on_the_api_of_serve(ingested: Served) -> None:
    home, api = ingested.home, ingested.api
    made = lore("apikey", "create", "reader", cwd=home)
    assert made.returncode == 0, made.stderr
    bearer = {"Authorization": f"Bearer {made.stdout.strip()}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        async with http.post(f"{api}/v1/search", json={"query": "paid holiday"}) as found:
            assert found.status == 200
            assert (await found.json())["results"][0]["doc_id"] == "holidays.md"
        assert lore("apikey", "revoke", "reader", cwd=home).returncode == 0
        async with http.post(f"{api}/v1/search", json={"query": "paid holiday"}) as refused:
            assert refused.status == 401  # revoked through serve: refused at once


async def test_mcp_over_http_answers_as_its_key(ingested: Served) -> None:
    lines = ingested.log.read_text().splitlines()
    url = next(line.split()[1] for line in lines if line.strip().startswith("MCP:"))
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {ingested.mcp_key}"}, timeout=TIMEOUT) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        found = await session.call_tool("search_knowledge", {"query": "acquisition budget", "k": 1})
    assert [r["doc_id"] for r in found.structured_content["results"]] == ["budget.md"]


def test_chat_reads_its_questions_through_serve(ingested: Served) -> None:
    run = lore("chat", cwd=ingested.home, stdin="How many days of paid holiday?\n\n")
    assert run.returncode == 0, run.stderr
    assert "terminal chat over 2 indexed chunks" in run.stdout and "25 days" in run.stdout


async def test_the_token_file_is_the_owners_alone_and_required(served: Served) -> None:
    path = served.home / "data" / "serve.json"
    address = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    base = f"http://127.0.0.1:{address['port']}/control"
    async with aiohttp.ClientSession() as http:
        for token in ("", "Bearer wrong", f"Bearer {address['token']}x"):
            async with http.get(f"{base}/ping", headers={"Authorization": token}) as refused:
                assert refused.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await http.ws_connect(base, headers={"Authorization": token})
            assert caught.value.status == 401
        async with http.get(f"{base}/ping", headers={"Authorization": f"Bearer {address['token']}"}) as ok:
            assert ok.status == 200  # positive control: the owner's token is let in


def test_a_second_serve_on_the_same_data_dir_is_refused(served: Served) -> None:
    run = lore("serve", cwd=served.home)
    assert run.returncode == 2
    assert "another `lore serve` (pid" in run.stderr


def test_without_a_running_serve_commands_run_on_their_own(tmp_path: Path) -> None:
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "laptops.md").write_text("# Laptops\n\nNew hires receive a laptop on day one.\n")
    proc, log = start_serve(tmp_path)
    address = (tmp_path / "data" / "serve.json").read_text()
    proc.kill()  # no clean stop: its address file stays behind
    proc.wait(timeout=30)
    assert (tmp_path / "data" / "serve.json").read_text() == address
    run = lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=tmp_path)
    assert run.returncode == 0 and "1 added" in run.stdout, run.stderr
    assert "for a terminal" not in log.read_text()  # it ran on its own, over the index serve left
    proc, log = start_serve(tmp_path)  # a new serve takes over the stale address
    assert (tmp_path / "data" / "serve.json").read_text() != address
    assert stop(proc) == 0
    assert not (tmp_path / "data" / "serve.json").exists()
    found = lore("search", "laptop", "--json", cwd=tmp_path)
    assert [r["doc_id"] for r in json.loads(found.stdout)["results"]] == ["laptops.md"]


def test_doctor_says_the_index_is_held_by_serve(served: Served) -> None:
    run = lore("doctor", cwd=served.home)
    assert "held by the running `lore serve` (pid" in run.stdout + run.stderr


async def test_serve_answers_in_slack_from_what_the_terminal_ingested(
    tmp_path: Path, slack: SlackStandin
) -> None:
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    env = serve_env(
        tmp_path, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET, LORE_SLACK_API_URL=slack.api_url
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:  # async: the Slack stand-in answers auth.test on this loop
        proc = await asyncio.create_subprocess_exec(LORE, "serve", cwd=tmp_path, env=env, stderr=out)
    try:
        async with asyncio.timeout(TIMEOUT):
            while not serving(log):
                assert proc.returncode is None, log.read_text()
                await asyncio.sleep(0.2)
        assert "Slack: answering over HTTP" in log.read_text()
        code, said = await lore_async(
            "ingest", "wiki", "--source", "wiki", "--access", "public", cwd=tmp_path
        )
        assert code == 0 and "1 added" in said
        event = {"type": "app_mention", "user": BOB, "text": "<@UBOT> how many days of holiday?", "ts": "1.5"}
        body = json.dumps(event_body({**event, "channel": "CGENERAL"}, event_id="EvServe1"))
        url = f"http://127.0.0.1:{env['LORE_HTTP_PORT']}/slack/events"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=body, headers=signed_request(body, SECRET)) as response,
        ):
            assert response.status == 200
        await slack.wait_for("chat.stopStream", timeout=60)
        assert "25 days" in slack.replies_in("CGENERAL", "1.5")[0].text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()


def test_with_redis_beside_the_embedded_index_serve_runs_the_jobs_itself(
    tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "desk.md").write_text("# Desks\n\nHot desks are booked in the office app.\n")
    redis = redis_url.rsplit("/", 1)[0] + "/5"  # a database of its own
    proc, _ = start_serve(tmp_path, LORE_REDIS_URL=redis)
    try:
        env = {"LORE_REDIS_URL": redis}
        assert (
            lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=tmp_path, **env).returncode
            == 0
        )
        synced = lore("sources", "sync", "wiki", cwd=tmp_path, **env)
        assert synced.returncode == 0 and "1 unchanged" in synced.stdout  # run by serve, not queued
        assert "queued" not in synced.stdout
    finally:
        assert stop(proc) == 0


def test_a_wrong_mcp_key_stops_serve_with_the_fix(tmp_path: Path) -> None:
    env = serve_env(tmp_path, LORE_MCP_KEY="lore_0123456789ab_notakeynotakeynotakey")
    run = subprocess.run(
        [LORE, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert run.returncode == 2 and "LORE_MCP_KEY is not an active API key" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "data" / "serve.json").exists()
