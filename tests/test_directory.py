"""The directory file as it is now: read again when it changes, by the bot (tests/test_identity.py), the API
and MCP (tests/test_access_matrix_*.py) and the sync worker (here), never remembered past a change."""

from __future__ import annotations

import json
from pathlib import Path

from knowledge.access import Directory, Principal
from knowledge.directory import DirectoryFile
from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from tests.change_harness import found, synced, world
from tests.confluence_standin import ConfluenceStandin
from tests.test_change_confluence import mapped, site, source

__all__ = ["mapped", "site"]  # the recorded Confluence site and its settings, shared with their module


def write(path: Path, groups: dict[str, list[str]]) -> Path:
    path.write_text(json.dumps({"groups": groups}), encoding="utf-8")
    return path


def test_a_change_is_read_at_the_next_look(tmp_path: Path) -> None:
    path = write(tmp_path / "directory.yml", {"finance": ["ana@example.com", "cleo@example.com"]})
    directory = DirectoryFile(path)
    assert directory.current().groups_of("cleo@example.com") == ["finance"]
    write(path, {"finance": ["ana@example.com"]})
    assert directory.current().groups_of("cleo@example.com") == []
    assert directory.current().groups_of("ana@example.com") == ["finance"]


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "directory.yml", {"finance": ["ana@example.com"]})
    directory = DirectoryFile(path)
    first = directory.current()
    assert directory.current() is first  # the same object: the file was only looked at


def test_a_file_replaced_by_a_rename_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "directory.yml", {"finance": ["ana@example.com"]})
    directory = DirectoryFile(path)
    assert directory.current().groups_of("ana@example.com") == ["finance"]
    write(tmp_path / "new.yml", {"hr": ["ana@example.com"]}).replace(path)
    assert directory.current().groups_of("ana@example.com") == ["hr"]


def test_expand_adds_the_directory_groups_of_each_user_held(tmp_path: Path) -> None:
    directory = DirectoryFile.of(
        Directory(groups={"finance": ["ana@example.com"], "Bad Name!": ["ana@example.com"]})
    )
    key = Principal.of(user="ana@example.com")
    assert directory.expand(key).grants == {"public", "user:ana@example.com", "group:finance"}
    assert directory.expand(Principal.anonymous()).grants == {"public"}


async def test_the_worker_maps_accounts_as_the_directory_says_at_each_sync(
    site: ConfluenceStandin, mapped: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    assert mapped.directory_file is not None  # confluence-users -> public
    async with world(mapped, embedder, tmp_path) as w:  # one worker process for both syncs
        await w.registry.put(source(site))
        assert (await synced(w, "wiki")).ok
        assert "ENG/1001" in await found(w, "service owner catalog", ["public"])
        accounts = {"accounts": {"confluence-users": ["group:staff"]}}
        mapped.directory_file.write_text(json.dumps(accounts), encoding="utf-8")
        assert (await synced(w, "wiki")).ok
        assert "ENG/1001" not in await found(w, "service owner catalog", ["public"])
        assert "ENG/1001" in await found(w, "service owner catalog", ["public", "group:staff"])
