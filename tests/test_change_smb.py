"""Access first and odd entries on a real Samba share: a file narrowed on the server (chgrp/chmod, which Samba
shows as its DACL) whose new content cannot be fetched keeps its old text for the narrowed group only; a
file whose DACL Lore's account may not read becomes readable by nobody, with a reason, and a folder it may
not list is a failed entry while the listing goes on; a link inside the share indexes nothing twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from knowledge.access import Directory
from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Credentials, Source
from tests.change_harness import World, found, synced, world
from tests.samba_server import Samba, running_samba

ENV = "LORE_SECRET_CHANGE_SMB"
OTHER_USER, OTHER_PASSWORD = "nobody", "nobody-s3cret"  # a Samba account without root's powers
FINANCE_GID = 2001  # Samba shows it as S-1-22-2-2001
ACCOUNTS = {"S-1-1-0": ["public"], f"S-1-22-2-{FINANCE_GID}": ["group:finance"]}
PUBLIC, FINANCE = ["public"], ["public", "group:finance"]
PAY = "# Pay\n\nThe Quokka bonus pool is 4 percent of payroll.\n"
HOLIDAYS = "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n"


@pytest.fixture(scope="module")
def samba() -> Iterator[Samba]:
    """smbd serving a folder that every account may enter, with a second account: `nobody`."""
    workdir = Path(tempfile.mkdtemp(prefix="lore-smb-"))
    workdir.chmod(0o755)
    try:
        with running_samba(workdir) as server:
            subprocess.run(
                ["smbpasswd", "-c", str(workdir / "smb.conf"), "-a", "-s", OTHER_USER],
                input=f"{OTHER_PASSWORD}\n{OTHER_PASSWORD}\n",
                text=True,
                check=True,
                capture_output=True,
            )
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Env:
    samba: Samba
    settings: Settings
    embedder: CachedEmbedder
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


@pytest.fixture
def env(
    samba: Samba,
    settings: Settings,
    embedder: CachedEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Env:
    """The share, settings whose directory maps Everyone and unix group 2001, and a 20 kB size limit."""
    directory = tmp_path / "directory.yaml"
    directory.write_text(Directory(accounts=ACCOUNTS).model_dump_json(), encoding="utf-8")
    tuned = settings.model_copy(update={"directory_file": directory, "max_file_mb": 0.02})
    return Env(samba, tuned, embedder, tmp_path, monkeypatch)


@asynccontextmanager
async def lore_on(env: Env, folder: str, *, user: str = "") -> AsyncIterator[World]:
    """A deployment with the share's `folder` registered, signed in as `user` (default: root), synced once."""
    env.monkeypatch.setenv(ENV, OTHER_PASSWORD if user else env.samba.password)
    source = Source(
        id="share",
        kind="smb",
        location=[env.samba.location(folder)],
        access=[],
        options={"user": user or env.samba.user},
        credentials=Credentials(env=ENV),
    )
    async with world(env.settings, env.embedder, env.tmp_path) as w:
        await w.registry.put(source)
        assert (await synced(w, "share")).ok
        yield w


def put(path: Path, text: str, mode: int = 0o644, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    os.chown(path, 0, gid)
    path.chmod(mode)


def seeded(env: Env, folder: str) -> Path:
    root = env.samba.root / folder
    put(root / "pay.md", PAY)
    put(root / "holidays.md", HOLIDAYS)
    return root


async def test_a_file_narrowed_on_the_server_whose_fetch_fails_keeps_its_old_text_for_the_group_only(
    env: Env,
) -> None:
    root = seeded(env, "narrowed")
    async with lore_on(env, "narrowed") as w:
        assert "pay.md" in await found(w, "Quokka bonus pool", PUBLIC)
        os.chown(root / "pay.md", 0, FINANCE_GID)  # the permission change on the server …
        (root / "pay.md").chmod(0o640)
        with (root / "pay.md").open("a", encoding="utf-8") as grown:  # … and content past the size limit
            grown.write("More about the pool. " * 2000)
        status = await synced(w, "share")

        assert status.failed == 1 and "too large" in status.errors[0]
        assert "pay.md" not in await found(w, "Quokka bonus pool", PUBLIC)
        assert "Quokka" in (await found(w, "Quokka bonus pool", FINANCE))["pay.md"]
        assert "holidays.md" in await found(w, "paid holiday", PUBLIC)


async def test_a_file_whose_permissions_lore_may_not_read_is_readable_by_nobody_with_a_reason(
    env: Env,
) -> None:
    root = seeded(env, "denied")
    put(root / "locked" / "plans.md", "# Plans\n\nThe Narwhal merger closes in May.\n")
    async with lore_on(env, "denied", user=OTHER_USER) as w:
        assert "pay.md" in await found(w, "Quokka bonus pool", PUBLIC)
        (root / "pay.md").chmod(0o600)  # root's alone: Lore's account may not even read its DACL
        (root / "locked").chmod(0o700)  # nor list this folder
        status = await synced(w, "share")

        assert status.failed == 2 and status.deleted == 1  # locked/plans.md is gone from what it may list
        assert sorted(status.errors) == [
            "locked/: Lore's account may not list this folder: its files are left out",
            "pay.md: Lore's account nobody may not read its permissions (READ_CONTROL): nobody may read "
            "it in Lore",
        ]
        everyone = ["public", "group:finance", "group:hr"]
        assert "pay.md" not in await found(w, "Quokka bonus pool", everyone)
        assert "holidays.md" in await found(w, "paid holiday", PUBLIC)  # the listing went on


async def test_a_link_inside_the_share_indexes_nothing_twice(env: Env) -> None:
    root = env.samba.root / "linked"
    put(root / "team" / "holidays.md", HOLIDAYS)
    (root / "shortcut.md").symlink_to(root / "team" / "holidays.md")
    (root / "team" / "again").symlink_to(root)  # a loop back to the location
    (root / "elsewhere.md").symlink_to("/etc/hostname")  # outside the share: Samba hides it
    async with lore_on(env, "linked") as w:
        assert set(await w.context.engine.state.documents("share")) == {"shortcut.md"}
        assert "shortcut.md" in await found(w, "paid holiday", PUBLIC)
