"""`lore ingest --source ID` never silently replaces a registered source of another kind, folders, access,
overrides or ceiling: it says what differs and how to confirm (`--replace`), and exits 2 meanwhile."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_pages
from tests.test_cli import lore

PAGES = {"pay.md": "# Pay\n\nThe Quokka bonus pool is 4 percent of payroll.\n"}


def test_ingest_refuses_to_replace_another_source_without_replace(tmp_path: Path) -> None:
    hr = write_pages(tmp_path / "hr", PAGES)
    other = write_pages(tmp_path / "other", {"x.md": "# X\n\nSomething else.\n"})
    added = lore(
        "sources",
        "add",
        "files",
        "pay",
        str(hr),
        "access=group:hr",
        "override=board:group:board",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr

    wider = lore("ingest", str(hr), "--source", "pay", "--access", "public", cwd=tmp_path)
    assert wider.returncode == 2
    assert "access group:hr (here: public)" in wider.stderr and "overrides board: group:board" in wider.stderr
    assert "--replace" in wider.stderr
    moved = lore("ingest", str(other), "--source", "pay", "--access", "group:hr", cwd=tmp_path)
    assert moved.returncode == 2 and f"folders {hr} (here: {other})" in moved.stderr
    assert '"results": []' in lore("search", "Quokka bonus pool", "--json", cwd=tmp_path).stdout  # unchanged

    same = lore("ingest", str(hr), "--source", "pay", "--access", "group:hr", cwd=tmp_path)
    assert same.returncode == 2 and "overrides" in same.stderr  # the override would be lost: confirm too

    replaced = lore("ingest", str(hr), "--source", "pay", "--access", "public", "--replace", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert '"doc_id": "pay.md"' in lore("search", "Quokka bonus pool", "--json", cwd=tmp_path).stdout
    again = lore("ingest", str(hr), "--source", "pay", "--access", "public", cwd=tmp_path)
    assert again.returncode == 0 and "1 unchanged" in again.stdout  # now it is the registered source
