"""A kind of source from a package of its own (tests/plugins/), installed as an admin installs one: added in
Slack (the modal and one line) to a running `lore serve`, synced, asked with its access enforced; then the
package removed, and a package that fails to import installed. Real subprocesses, as users run them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest

from tests.bot_harness import ANA, SECRET, Bot, workspace
from tests.conftest import free_port
from tests.recording_server import RecordingServer, json_reply
from tests.slack_standin import SlackStandin
from tests.test_cli import lore
from tests.test_serve import start_serve, stop

PLUGINS = Path(__file__).parent / "plugins"
PIP_INSTALL = (
    sys.executable,
    "-m",
    "pip",
    "install",
    "-q",
    "--no-index",
    "--no-deps",
    "--no-build-isolation",
)
FEEDS = {
    "news": [
        {
            "id": "canteen",
            "title": "Canteen hours",
            "body": "The canteen on floor 3 serves lunch from 11:30 to 14:00 on weekdays.",
            "url": "https://news.example.com/canteen",
            "updated_at": "2025-03-01T09:00:00Z",
        },
        {
            "id": "payroll",
            "title": "Payroll dates",
            "body": "Payroll runs on the 25th; the Quillfeather audit of payroll is in May.",
            "url": "https://news.example.com/payroll",
            "updated_at": "2025-03-02T09:00:00Z",
        },
    ],
    "hr": [
        {
            "id": "bonus",
            "title": "Zorblax bonus",
            "body": "The Zorblax bonus pool is 4 percent of payroll, paid in March.",
            "url": "https://hr.example.com/bonus",
            "updated_at": "2025-03-03T09:00:00Z",
        }
    ],
}


def install(package: str, target: Path) -> str:
    """`pip install` a plug-in of tests/plugins into `target`, offline; returns a PYTHONPATH holding it."""
    source = target.parent / f"{package}-source"
    shutil.copytree(PLUGINS / package, source)  # building writes into the source folder
    run = subprocess.run(
        [*PIP_INSTALL, "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)


class Installed(NamedTuple):
    home: Path  # the data dir is home/data; a `files` source `wiki` is home/wiki
    feed: str  # PYTHONPATH with lore-jsonfeed
    broken: str  # PYTHONPATH with lore-broken (and not lore-jsonfeed)
    chunks: int  # chunks in the index after the first syncs


def said(slack: SlackStandin, start: str) -> list[str]:
    """The direct messages Lore sent that start with `start`."""
    texts = [str(c.args.get("text", "")) for c in slack.calls_to("chat.postMessage")]
    return [t for t in texts if t.startswith(start)]


async def add_in_slack(home: Path, path: str) -> None:
    """Ana (an admin) adds `news` with the one-line `/lore add` and `hr-news` with its modal, to a `lore
    serve` that has the plug-in; returns when both first syncs are done."""
    async with SlackStandin() as slack, RecordingServer() as feeds, aiohttp.ClientSession() as http:
        workspace(slack)
        for name, items in FEEDS.items():
            feeds.route(f"/{name}/feed.json", json_reply({"items": items}))
        env = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "LORE_SLACK_API_URL": slack.api_url,
            "LORE_ADMINS": ANA,
            "LORE_ALLOWED_INTERNAL_HOSTS": "127.0.0.1",
            "LORE_HTTP_PORT": str(free_port()),
            "PYTHONPATH": path,
        }
        proc, log = await asyncio.to_thread(start_serve, home, **env)  # the stand-in answers on this loop
        try:
            bot = Bot(slack, [], [f"http://127.0.0.1:{env['LORE_HTTP_PORT']}/slack/events"], http)
            news = feeds.url("/news/feed.json")
            line = f"add jsonfeed news {news} access=public override=payroll:group:finance"
            [reply] = await bot.replies(await bot.command(ANA, line))
            assert "Added *news* (jsonfeed" in reply["text"], reply
            await bot.command(ANA, "add jsonfeed")
            [opened] = await slack.wait_for("views.open")
            typed = {"source_id": "hr-news", "location": feeds.url("/hr/feed.json"), "access": "group:hr"}
            status, errors = await bot.submit_view(ANA, opened.args["view"], typed)
            assert (status, errors) == (200, {})
            for source in ("news", "hr-news"):
                await slack.wait_until(
                    lambda s=source: bool(said(slack, f"Sync of `{s}` finished")), seconds=120
                )
            assert "2 added" in said(slack, "Sync of `news` finished")[0]
        finally:
            assert await asyncio.to_thread(stop, proc) == 0, log.read_text()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """Both plug-ins installed (apart), a `files` source, and the two feed sources added in Slack."""
    packages = tmp_path_factory.mktemp("packages")
    feed, broken = install("lore_jsonfeed", packages / "feed"), install("lore_broken", packages / "broken")
    home = tmp_path_factory.mktemp("plugins")
    (home / "wiki").mkdir()
    (home / "wiki" / "desks.md").write_text("# Desks\n\nHot desks are booked in the office app.\n")
    ingest = lore("ingest", "wiki", "--source", "wiki", "--access", "public", cwd=home)
    assert ingest.returncode == 0, ingest.stderr
    asyncio.run(add_in_slack(home, feed))
    listed = lore("sources", "list", cwd=home, PYTHONPATH=feed).stdout.splitlines()
    chunks = sum(int(line.split("\t")[4].split()[0]) for line in listed)
    assert chunks >= 4, listed  # wiki 1, news 2, hr-news 1
    yield Installed(home, feed, broken, chunks)


def ask(installed: Installed, question: str, *flags: str) -> dict[str, object]:
    run = lore("ask", question, "--json", *flags, cwd=installed.home, PYTHONPATH=installed.feed)
    assert run.returncode == 0, run.stderr
    answer: dict[str, object] = json.loads(run.stdout)
    return answer


def cited(answer: dict[str, object]) -> set[tuple[str, str]]:
    citations = answer["citations"]
    assert isinstance(citations, list)
    return {(c["source"], c["doc_id"]) for c in citations}


def test_lore_answers_from_a_plugins_source_as_its_access_allows(installed: Installed) -> None:
    allowed = ask(installed, "How big is the Zorblax bonus pool?", "--groups", "hr")
    assert ("hr-news", "bonus") in cited(allowed) and "4 percent" in str(allowed["answer"])
    outside = ask(installed, "How big is the Zorblax bonus pool?")
    assert ("hr-news", "bonus") not in cited(outside)
    assert "4 percent" not in str(outside["answer"])
    public = ask(installed, "When does the canteen serve lunch?")
    assert ("news", "canteen") in cited(public)  # the one-line source, public
    assert ("news", "payroll") not in cited(ask(installed, "When is the Quillfeather audit?"))
    finance = ask(installed, "When is the Quillfeather audit?", "--groups", "finance")
    assert ("news", "payroll") in cited(finance)  # its override, read by the plug-in's connector


def test_without_the_package_its_sources_say_so_and_keep_their_documents(installed: Installed) -> None:
    home = installed.home
    listed = lore("sources", "list", cwd=home).stdout
    news = next(line for line in listed.splitlines() if line.startswith("news\t"))
    assert "no installed package declares the kind 'jsonfeed'" in news
    synced = lore("sources", "sync", "news", cwd=home)
    assert synced.returncode == 1
    assert "listing failed: no connector for kind 'jsonfeed'" in synced.stdout
    assert (
        "install the package that provides it" in synced.stdout and "nothing was deleted" not in synced.stdout
    )
    found = lore("search", "Quillfeather audit payroll", "--groups", "finance", "--json", cwd=home)
    assert "payroll" in [r["doc_id"] for r in json.loads(found.stdout)["results"]]  # still indexed
    added = lore(
        "sources", "add", "jsonfeed", "more", "https://n.example.com/feed.json", "access=public", cwd=home
    )
    assert added.returncode == 2 and "unknown kind 'jsonfeed': Lore adds `files`" in added.stderr


def test_a_package_that_fails_to_import_is_reported_and_lores_kinds_work(installed: Installed) -> None:
    home = installed.home
    doctor = lore("doctor", cwd=home, PYTHONPATH=installed.broken)
    assert "FAIL kinds" in doctor.stdout
    assert "kind 'broken-kind' of lore-broken 0.1.0 failed to load (ModuleNotFoundError" in doctor.stdout
    assert "installed and working: files, smb, mediawiki, confluence, web, lore-remote" in doctor.stdout
    assert f": {installed.chunks} chunks" in doctor.stdout  # nothing was removed without the plug-in
    synced = lore("sources", "sync", "wiki", cwd=home, PYTHONPATH=installed.broken)
    assert synced.returncode == 0 and "1 unchanged" in synced.stdout, synced.stdout + synced.stderr
    added = lore(
        "sources", "add", "broken-kind", "b", "/srv/b", "access=public", cwd=home, PYTHONPATH=installed.broken
    )
    assert added.returncode == 2
    assert "kind 'broken-kind' cannot be used: its package lore-broken 0.1.0 failed to load" in added.stderr
