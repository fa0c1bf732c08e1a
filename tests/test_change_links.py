"""Links and odd entries in a folder source: a link never carries a file from outside the folder into the
index, a link inside it indexes its target once under the target's own access, and a dangling link, a FIFO,
a socket, a device or an unreadable entry is a failed document with its reason while the rest of the sync
(new documents, deletions, access changes) goes on."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.connectors.files import FilesConnector
from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.change_harness import found, synced, world
from tests.conftest import write_pages

PAGES = {
    "holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n",
    "laptops.md": "# Laptops\n\nNew hires receive a laptop from IT on their first day.\n",
    "parking.md": "# Parking\n\nStaff parking is in the basement garage, level minus two.\n",
}
SECRET = "# Root secrets\n\nThe Wombat vault code is 7319.\n"
PUBLIC, HR = ["public"], ["public", "group:hr"]


def wiki(root: Path, **update: object) -> Source:
    return Source(id="wiki", location=[str(root)], access=["public"]).model_copy(update=update)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_pages(tmp_path / "wiki", PAGES)


async def test_a_link_out_of_the_folder_is_never_followed_and_its_old_copy_goes(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, root: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "vault.md").write_text(SECRET, encoding="utf-8")
    (root / "vault.md").write_text(SECRET, encoding="utf-8")  # indexed once as a file of the folder …
    async with world(settings, embedder, tmp_path) as w:
        await w.registry.put(wiki(root))
        await synced(w, "wiki")
        assert "vault.md" in await found(w, "Wombat vault code", PUBLIC)
        (root / "vault.md").unlink()  # … then replaced by a link to a file outside it
        (root / "vault.md").symlink_to(outside / "vault.md")
        (root / "etc").symlink_to(outside)  # and a link to a folder outside
        status = await synced(w, "wiki")
        assert status.ok and status.deleted == 1
        assert "2 links lead outside the source and are not followed (etc, vault.md)" in status.summary
        assert all("Wombat" not in text for text in (await found(w, "Wombat vault code", HR)).values())
        assert "holidays.md" in await found(w, "paid holiday", PUBLIC)  # the positive control


async def test_a_link_inside_the_folder_indexes_its_target_once_under_the_targets_access(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, root: Path
) -> None:
    (root / "hr").mkdir()
    (root / "hr" / "pay.md").write_text("# Pay\n\nThe Quokka bonus pool is 4 percent.\n", encoding="utf-8")
    (root / "bonus.md").symlink_to(root / "hr" / "pay.md")  # a public-looking path to an hr file
    (root / "team").symlink_to(root / "hr")  # and a public-looking folder
    async with world(settings, embedder, tmp_path) as w:
        await w.registry.put(wiki(root, overrides={"hr": ["group:hr"]}))
        status = await synced(w, "wiki")
        assert status.ok and status.added == 4
        assert "Quokka" not in "".join((await found(w, "Quokka bonus pool", PUBLIC)).values())
        hits = await found(w, "Quokka bonus pool", HR)
        assert "hr/pay.md" in hits and not {"bonus.md", "team/pay.md"} & set(hits)
        assert {d.doc_id for d in (await w.context.engine.state.documents("wiki")).values()} == {
            *PAGES,
            "hr/pay.md",
        }


def fifo(path: Path) -> None:
    os.mkfifo(path)


def unix_socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays


def device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 3))  # like /dev/null


def dangling(path: Path) -> None:
    path.symlink_to("gone.md")


def loop(path: Path) -> None:
    path.symlink_to(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (dangling, "a link to gone.md, which does not exist (a dangling link)"),
        (loop, "a link that cannot be followed"),
        (fifo, "not a regular file but a named pipe (FIFO)"),
        (unix_socket, "not a regular file but a socket"),
        (device, "not a regular file but a device"),
    ],
)
async def test_an_odd_entry_is_a_failed_document_and_the_sync_goes_on(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, root: Path, make: object, reason: str
) -> None:
    async with world(settings, embedder, tmp_path) as w:
        await w.registry.put(wiki(root))
        await synced(w, "wiki")
        assert callable(make)
        make(root / "odd.md")  # the world changes: an odd entry, a new page, a deletion, an access change
        (root / "canteen.md").write_text("# Canteen\n\nThe canteen opens at noon.\n", encoding="utf-8")
        (root / "parking.md").unlink()
        await w.registry.put(wiki(root, overrides={"laptops.md": ["group:hr"]}))
        status = await synced(w, "wiki")
        assert (status.added, status.deleted, status.failed) == (1, 1, 1)
        [error] = status.errors
        assert error.startswith(f"odd.md: {reason}")
        assert "canteen.md" in await found(w, "when does the canteen open", PUBLIC)
        assert "parking.md" not in await found(w, "basement garage parking", HR)
        assert "laptops.md" not in await found(w, "laptop from IT", PUBLIC)
        assert "laptops.md" in await found(w, "laptop from IT", HR)


LIST_WITHOUT_OVERRIDE = """
import asyncio, json, sys
from pathlib import Path
from ingestion.connectors.files import FilesConnector
async def main():
    refs = [ref async for ref in FilesConnector([Path(sys.argv[1])], ["public"]).list_documents()]
    print(json.dumps({ref.doc_id: ref.problem for ref in refs}))
asyncio.run(main())
"""


SETPRIV = shutil.which("setpriv")


@pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv (util-linux)")
def test_files_and_folders_lore_may_not_read_are_failed_entries_and_the_listing_goes_on(
    tmp_path: Path,
) -> None:
    docs = write_pages(tmp_path / "docs", {"open.md": "# Open\n", "closed.md": "# Closed\n"})
    (docs / "locked").mkdir()
    (docs / "locked" / "inside.md").write_text("# Inside\n")
    for path, mode in ((docs / "closed.md", 0o600), (docs / "locked", 0o700)):
        os.chown(path, 65534, 65534)  # another account's, readable by it alone
        path.chmod(mode)
    assert SETPRIV is not None
    without_override = [SETPRIV, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    listed = subprocess.run(  # Lore as root without the right to bypass permissions
        [*without_override, sys.executable, "-c", LIST_WITHOUT_OVERRIDE, str(docs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {
        "closed.md": "Lore may not read this file (permission denied): give its account read access",
        "open.md": "",
        "locked/": "cannot list this folder (Permission denied): its files are left out",
    }
    as_root = {ref.doc_id for ref in FilesConnector([docs], ["public"])._listing()}
    assert as_root == {"closed.md", "open.md", "locked/inside.md"}  # the positive control
