"""`lore sources list|add|sync|remove` as an operator types them (subprocesses, embedded defaults)."""

from __future__ import annotations

from pathlib import Path

from knowledge.audit import FileAudit
from tests.test_cli import lore


def test_sources_add_list_sync_remove_from_the_terminal(tmp_path: Path) -> None:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "holidays.md").write_text("# Holidays\n\nEveryone gets 25 days of paid holiday.\n")
    added = lore("sources", "add", "files", "wiki", str(wiki), "access=public", "every=2h", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "1 added" in added.stdout
    listed = lore("sources", "list", cwd=tmp_path)
    assert listed.stdout.startswith("wiki\tidle\tlast sync ") and "\tok\t" in listed.stdout
    found = lore("search", "paid holiday", "--json", cwd=tmp_path)
    assert '"doc_id": "holidays.md"' in found.stdout
    synced = lore("sources", "sync", "wiki", cwd=tmp_path)
    assert synced.returncode == 0 and "1 unchanged" in synced.stdout
    removed = lore("sources", "remove", "wiki", cwd=tmp_path)
    assert removed.returncode == 0 and "removed wiki" in removed.stdout
    assert '"results": []' in lore("search", "paid holiday", "--json", cwd=tmp_path).stdout
    assert lore("sources", "list", cwd=tmp_path).stdout.startswith("no sources yet")


async def test_the_terminal_changes_are_audited(tmp_path: Path) -> None:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "a.md").write_text("# A\n\nAlpha.\n")
    assert lore("sources", "add", "files", "wiki", str(wiki), "access=public", cwd=tmp_path).returncode == 0
    assert lore("sources", "remove", "wiki", cwd=tmp_path).returncode == 0
    entries = await FileAudit(tmp_path / "data" / "audit.jsonl").latest()
    assert [(e.action, e.target) for e in entries] == [("remove", "wiki"), ("add", "wiki")]
    assert all(e.who.startswith("cli:") for e in entries)


def test_bad_source_commands_say_what_is_wrong(tmp_path: Path) -> None:
    cases = [
        (["add", "files", "wiki", "relative/path", "access=public"], "absolute"),
        (["add", "files", "wiki", "/srv/wiki", "access=everyone"], "invalid access 'everyone'"),
        (["add", "ftp", "wiki", "/srv/wiki"], "ftp"),
        (["sync", "nope"], "unknown source 'nope'"),
        (["remove"], "unknown source ''"),
    ]
    for words, message in cases:
        run = lore("sources", *words, cwd=tmp_path)
        assert run.returncode == 2, (words, run.stderr)
        assert message in run.stderr and "Traceback" not in run.stderr, (words, run.stderr)
