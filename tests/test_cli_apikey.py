"""`lore apikey create|list|revoke` as an operator types them (subprocesses, keys in LORE_DATA_DIR)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.apikeys import ApiKeys, FileRecords
from knowledge.audit import FileAudit


def lore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LORE_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "lore.cli", "apikey", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "LORE_DATA_DIR": str(cwd / "data")},
    )


def stored(home: Path) -> ApiKeys:
    return ApiKeys(FileRecords(home / "data" / "apikeys.json"))


def created(home: Path, *args: str) -> str:
    run = lore("create", *args, cwd=home)
    assert run.returncode == 0, run.stderr
    key = run.stdout.strip()
    assert run.stdout == key + "\n"
    return key


async def test_create_prints_only_the_key_on_stdout_and_it_verifies(tmp_path: Path) -> None:
    run = lore("create", "support-agent", "--access", "group:support", "--rate", "5", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    key = run.stdout.strip()
    assert run.stdout == key + "\n" and key.startswith("lore_")
    assert "shown this once" in run.stderr and "Authorization: Bearer <key>" in run.stderr
    assert "LORE_MCP_KEY" in run.stderr and key not in run.stderr
    record = await stored(tmp_path).verify(key)
    assert record is not None and record.grants == ["group:support", "public"] and record.rate_limit == 5
    assert record.created_by.startswith("cli:")
    [entry] = await FileAudit(tmp_path / "data" / "audit.jsonl").latest()
    assert (entry.action, entry.target) == ("apikey-create", "support-agent") and entry.who.startswith("cli:")
    assert key not in (tmp_path / "data" / "audit.jsonl").read_text()


async def test_list_shows_the_key_but_not_the_key_itself(tmp_path: Path) -> None:
    assert lore("list", cwd=tmp_path).stdout.startswith("no API keys yet")
    key = created(tmp_path, "support-agent", "--access", "group:support")
    listed = lore("list", cwd=tmp_path)
    [record] = await stored(tmp_path).all()
    assert listed.returncode == 0
    assert listed.stdout.startswith(f"support-agent\t{record.id}\tgroup:support,public\t60 requests/minute\t")
    assert listed.stdout.rstrip().endswith("\tactive") and key not in listed.stdout


async def test_revoke_makes_the_key_fail(tmp_path: Path) -> None:
    key = created(tmp_path, "support-agent")
    revoked = lore("revoke", "support-agent", cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked support-agent" in revoked.stdout
    assert await stored(tmp_path).verify(key) is None
    assert "\trevoked " in lore("list", cwd=tmp_path).stdout
    entries = await FileAudit(tmp_path / "data" / "audit.jsonl").latest()
    assert [e.action for e in entries] == ["apikey-revoke", "apikey-create"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["create", "x", "--access", "everyone"], "invalid access 'everyone'"),
        (["create"], "missing the key's name"),
        (["create", "Bad!"], "invalid key name 'Bad!'"),
        (["create", "x", "--rate", "-1"], "invalid rate '-1'"),
        (["revoke", "nope"], "no active API key named 'nope'"),
        (["list", "x"], "`list` takes no name or options"),
    ],
)
async def test_bad_lines_exit_2_and_say_what_is_wrong(tmp_path: Path, words: list[str], message: str) -> None:
    run = lore(*words, cwd=tmp_path)
    assert run.returncode == 2, (words, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr and run.stdout == ""
    assert await stored(tmp_path).all() == []
