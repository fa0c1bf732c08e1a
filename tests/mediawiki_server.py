"""A real MediaWiki on loopback for the connector's tests: Debian's package (/usr/share/mediawiki) installed
with SQLite into a temporary folder and served by PHP's built-in server, twice: a public wiki, and the same
wiki (same database) where only signed-in users may read. Pages are changed with MediaWiki's own
maintenance scripts, which finish their database work before they exit, so a test sees what they did.

    with running_wiki(tmp) as wiki:
        await wiki.write({"Holidays": "== Leave ==\\n25 days."})
        wiki.api  # http://127.0.0.1:<port>/api.php
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp

from tests.conftest import free_port, settled_log, wait_for_port

MEDIAWIKI = Path("/usr/share/mediawiki")
SITENAME = "Lore Wiki"  # the local name of namespace 4 (Project)
ADMIN, ADMIN_PASSWORD = "Admin", "lore-admin-password-2024"
BOT_APP = "lore"
BOT_USER = f"{ADMIN}@{BOT_APP}"
BOT_PASSWORD = "0123456789abcdefghijklmnopqrstuv"  # bot passwords are 32+ of [0-9a-w]
# No background jobs inside API requests, no e-mail, nothing fetched from the network, no login throttle
# (the tests try wrong passwords on purpose).
EXTRA_SETTINGS = """
$wgJobRunRate = 0;
$wgEnableEmail = false;
$wgUseInstantCommons = false;
$wgPingback = false;
$wgPasswordAttemptThrottle = false;
$wgShowExceptionDetails = true;
"""
PRIVATE_SETTINGS = """<?php
require __DIR__ . '/LocalSettings.php';
$wgServer = "http://127.0.0.1:{port}";
$wgGroupPermissions['*']['read'] = false;
"""


@dataclass
class Wiki:
    """A running wiki: its API URLs, its access log, and its maintenance scripts."""

    root: Path
    port: int
    private_port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api.php"

    @property
    def private_api(self) -> str:
        return f"http://127.0.0.1:{self.private_port}/api.php"

    def url(self, title: str) -> str:
        """A page's canonical URL on the public wiki."""
        return f"http://127.0.0.1:{self.port}/index.php/{quote(title.replace(' ', '_'), safe=':/')}"

    def requests(self, needle: str) -> int:
        """How many requests the public wiki's access log shows with `needle` in their URL."""
        lines = settled_log(self.root / "access.log").splitlines()
        return sum(1 for line in lines if "]: GET" in line and needle in line)

    async def page_id(self, title: str) -> int:
        """The id of the page now at `title`."""
        params = {"action": "query", "titles": title, "format": "json", "formatversion": "2"}
        async with aiohttp.ClientSession() as session, session.get(self.api, params=params) as response:
            [page] = (await response.json())["query"]["pages"]
        return int(page["pageid"])

    async def write(self, pages: dict[str, str]) -> None:
        """Create or edit pages (title -> wikitext), one revision each, in the recent changes."""
        folder = self.root / "import"
        folder.mkdir(exist_ok=True)
        files = []
        for n, (title, text) in enumerate(pages.items()):
            path = folder / str(n) / title  # the file name is the title (with its namespace)
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            files.append(str(path))
        await self._script("importTextFiles.php", "--rc", "--overwrite", "--user", ADMIN, *files)

    async def delete(self, *titles: str) -> None:
        await self._script("deleteBatch.php", "-u", ADMIN, "-r", "obsolete", stdin="\n".join(titles))

    async def undelete(self, title: str) -> None:
        await self._script("undelete.php", "--user", ADMIN, title)

    async def move(self, old: str, new: str) -> None:
        """Rename a page (the old title becomes a redirect)."""
        await self._script("moveBatch.php", "--u", ADMIN, "--r", "renamed", stdin=f"{old}|{new}")

    async def _script(self, name: str, *args: str, stdin: str = "") -> None:
        proc = await asyncio.create_subprocess_exec(
            "php",
            str(MEDIAWIKI / "maintenance" / name),
            *args,
            env=self._env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await proc.communicate(stdin.encode())
        if proc.returncode:
            raise RuntimeError(f"{name} failed ({proc.returncode}): {out.decode(errors='replace')}")

    def _env(self, config: str = "LocalSettings.php") -> dict[str, str]:
        return {**os.environ, "MW_CONFIG_FILE": str(self.root / config), "PHP_CLI_SERVER_WORKERS": "2"}


def _run(wiki: Wiki, *command: str) -> None:
    done = subprocess.run(command, env=wiki._env(), capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{command[1]} failed: {done.stdout}{done.stderr}")


def install(wiki: Wiki) -> None:
    """A fresh wiki with SQLite in `wiki.root`, plus the private twin's settings and a bot password."""
    _run(
        wiki,
        "php",
        str(MEDIAWIKI / "maintenance" / "install.php"),
        "--dbtype=sqlite",
        f"--dbpath={wiki.root / 'db'}",
        "--dbname=wiki",
        f"--server=http://127.0.0.1:{wiki.port}",
        "--scriptpath=",
        f"--pass={ADMIN_PASSWORD}",
        f"--confpath={wiki.root}",
        "--lang=en",
        "--skins=Vector",
        SITENAME,
        ADMIN,
    )
    with (wiki.root / "LocalSettings.php").open("a", encoding="utf-8") as settings:
        settings.write(EXTRA_SETTINGS)
    (wiki.root / "Private.php").write_text(PRIVATE_SETTINGS.replace("{port}", str(wiki.private_port)))
    _run(
        wiki,
        "php",
        str(MEDIAWIKI / "maintenance" / "createBotPassword.php"),
        "--appid",
        BOT_APP,
        "--grants",
        "basic",
        ADMIN,
        BOT_PASSWORD,
    )


@contextmanager
def _serving(wiki: Wiki, port: int, config: str, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{port}", "-t", str(MEDIAWIKI)],
            env=wiki._env(config),
            cwd=wiki.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers are in its process group, and stop with it
        )
    try:
        wait_for_port(port, proc, timeout=30)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@contextmanager
def running_wiki(root: Path) -> Iterator[Wiki]:
    """Install a wiki in `root` and serve it (public and private) until the block ends."""
    wiki = Wiki(root=root, port=free_port(), private_port=free_port())
    install(wiki)
    with (
        _serving(wiki, wiki.port, "LocalSettings.php", root / "access.log"),
        _serving(wiki, wiki.private_port, "Private.php", root / "private-access.log"),
    ):
        yield wiki
