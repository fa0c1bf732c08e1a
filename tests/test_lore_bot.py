"""`lore bot` as an operator runs it (a subprocess): HTTP mode against the Slack stand-in, the embedded sync
scheduler, probes, graceful stop; and the scheduler and source registry themselves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from ingestion.scheduler import Scheduler
from ingestion.sync import SyncEngine
from ingestion.worker import WorkerContext, inline_jobs
from knowledge.jobs_inline import InlineJobs
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import FileRegistry, Registry, Source, SourceStatus
from tests.bot_harness import BOB, SECRET
from tests.conftest import free_port
from tests.slack_standin import SlackStandin, event_body, signed_request
from tests.test_cli import lore_async

LORE = str(Path(sys.executable).parent / "lore")


async def wait_healthy(url: str, proc: asyncio.subprocess.Process, seconds: float = 120) -> None:
    """Poll the probe until the bot serves it (it loads the model and the index first)."""
    async with asyncio.timeout(seconds), aiohttp.ClientSession() as http:
        while proc.returncode is None:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"lore bot exited with {proc.returncode}")


async def test_lore_bot_answers_syncs_and_stops_cleanly(tmp_path: Path, slack: SlackStandin) -> None:
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    code, _ = await lore_async("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=tmp_path)
    assert code == 0
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "LORE_SLACK_API_URL": slack.api_url,
    }
    proc = await asyncio.create_subprocess_exec(
        LORE,
        "bot",
        "--port",
        str(port),
        cwd=tmp_path,
        env={**_clean_env(), "LORE_DATA_DIR": str(tmp_path / "data"), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        ts = "1600000000.000001"
        event = {
            "type": "app_mention",
            "user": BOB,
            "text": "<@UBOT> how many days of holiday?",
            "ts": ts,
            "channel": "CGENERAL",
        }
        body = json.dumps(event_body(event, event_id="EvCli1"))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_request(body, SECRET)
            ) as response,
        ):
            assert response.status == 200
        await slack.wait_for("chat.stopStream", timeout=60)
        assert "25 days" in slack.replies_in("CGENERAL", ts)[0].text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "stopping" in err.decode()
    [record] = await FileRegistry(tmp_path / "data" / "sources.json").all()  # `lore ingest` registered it
    assert record.source.id == "wiki" and record.source.access == ["public"]
    assert record.status.ok is True and "1 added" in record.status.summary  # `lore ingest` recorded its sync


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}


async def test_lore_bot_without_slack_tokens_says_what_to_set(tmp_path: Path) -> None:
    code, _ = await lore_async("bot", cwd=tmp_path)
    proc = await asyncio.create_subprocess_exec(
        LORE,
        "bot",
        cwd=tmp_path,
        env={**_clean_env(), "LORE_DATA_DIR": str(tmp_path / "data")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert code == 2 and proc.returncode == 2
    assert "SLACK_APP_TOKEN" in err.decode() and "Traceback" not in err.decode()


def embedded_jobs(engine: SyncEngine, registry: Registry, settings: Settings) -> InlineJobs:
    """The jobs of embedded mode, as `lore bot` composes them."""
    return inline_jobs(WorkerContext(settings=settings, engine=engine, registry=registry))


async def test_the_scheduler_syncs_due_sources_and_records_failures(
    engine: SyncEngine, kb: Knowledge, settings: Settings, tmp_path: Path
) -> None:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "a.md").write_text("# A\n\nAlpha is the first letter.\n")
    registry = FileRegistry(tmp_path / "sources.json")
    await registry.put(Source(id="wiki", location=[str(wiki)], access=["public"], every=60))
    await registry.put(Source(id="manual", location=[str(wiki)], access=["public"], every=0))
    jobs = embedded_jobs(engine, registry, settings)
    scheduler = Scheduler(registry, jobs)
    assert await scheduler.request_due(now=1000.0) == ["wiki"]
    await jobs.drain()
    status = {r.source.id: r.status for r in await registry.all()}
    assert status["wiki"].ok is True and status["wiki"].added == 1 and status["wiki"].chunks > 0
    assert status["wiki"].state == "idle" and status["manual"].last_sync is None  # every=0: only when asked
    (wiki / "b.md").write_text("# B\n\nBeta is the second letter.\n")
    assert await scheduler.request_due() == []  # synced a moment ago: not due yet
    assert await scheduler.request_due(now=10**12) == ["wiki"]
    await jobs.drain()
    wiki_status = (await registry.get("wiki")).status  # type: ignore[union-attr]
    assert wiki_status.added == 1 and wiki_status.unchanged == 1
    before = await kb.index.count("wiki")
    for path in wiki.iterdir():
        path.unlink()
    wiki.rmdir()
    assert await scheduler.request_due(now=10**13) == ["wiki"]
    await jobs.drain()
    record = await registry.get("wiki")
    assert record is not None and record.status.ok is False
    assert record.status.summary.startswith("listing failed: ") and record.status.state == "idle"
    assert await kb.index.count("wiki") == before  # a failed listing prunes nothing
    await jobs.close()


async def test_a_folder_override_gives_its_documents_their_own_access(
    engine: SyncEngine, kb: Knowledge, settings: Settings, tmp_path: Path
) -> None:
    wiki = tmp_path / "wiki"
    (wiki / "finance").mkdir(parents=True)
    (wiki / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    (wiki / "finance" / "payroll.md").write_text(
        "# Payroll\n\nSalaries are paid on the 25th of each month.\n"
    )
    registry = FileRegistry(tmp_path / "sources.json")
    overrides = {"finance": ["group:finance"]}
    await registry.put(Source(id="wiki", location=[str(wiki)], access=["public"], overrides=overrides))
    jobs = embedded_jobs(engine, registry, settings)
    assert await Scheduler(registry, jobs).request_due() == ["wiki"]
    await jobs.drain()
    public = {h.chunk.doc_id for h in await kb.retriever.search("when are salaries paid?", ["public"], k=10)}
    finance = await kb.retriever.search("when are salaries paid?", ["public", "group:finance"], k=10)
    assert public == {"holidays.md"}
    assert finance[0].chunk.doc_id == "finance/payroll.md" and finance[0].chunk.acl == ["group:finance"]
    await jobs.close()


async def test_the_registry_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sources.json"
    await FileRegistry(path).put(Source(id="wiki", location=["/srv/wiki"], access=["public"]))
    await FileRegistry(path).record("wiki", SourceStatus(last_sync=1.0, ok=True, summary="wiki: 1 added"))
    [record] = await FileRegistry(path).all()
    assert record.status.ok and record.status.summary == "wiki: 1 added"
    await FileRegistry(path).put(Source(id="wiki", location=["/srv/wiki2"], access=["group:eng"]))
    [record] = await FileRegistry(path).all()
    assert record.source.location == ["/srv/wiki2"] and record.status.ok  # changing a source keeps its status
    await FileRegistry(path).remove("wiki")
    assert await FileRegistry(path).all() == []
