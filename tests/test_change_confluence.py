"""Access first on Confluence (the stand-in replaying recorded REST responses): a page that gets a read
restriction while its new body cannot be fetched keeps its old text for the restricted group only; a page
whose read restrictions Confluence leaves out of its answer is readable by nobody, with a reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Credentials, Source
from tests.change_harness import found, synced, world
from tests.confluence_standin import ConfluenceStandin, standin_thread

TOKEN_ENV = "LORE_SECRET_CHANGE_CONFLUENCE"
PUBLIC, ENGINEERS = ["public"], ["public", "group:engineering"]
DEPLOYS = "Which release train do deploys go out on?"


@pytest.fixture(scope="module")
def site() -> Iterator[ConfluenceStandin]:
    with standin_thread(max_limit=2) as served:
        yield served


@pytest.fixture
def mapped(
    site: ConfluenceStandin, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The recorded site afresh, Lore's token set, and every Confluence user an employee: pages without
    restrictions in ENG are public."""
    site.reset()
    monkeypatch.setenv(TOKEN_ENV, "t0ken")
    path = tmp_path / "directory.yaml"
    path.write_text(json.dumps({"accounts": {"confluence-users": ["public"]}}), encoding="utf-8")
    return settings.model_copy(update={"directory_file": path})


def source(site: ConfluenceStandin) -> Source:
    return Source(
        id="wiki",
        kind="confluence",
        location=[site.base_url],
        access=[],
        options={"spaces": "ENG", "user": "bot@example.com"},
        credentials=Credentials(env=TOKEN_ENV),
    )


async def test_a_page_restricted_while_its_new_body_cannot_be_fetched_keeps_its_old_text_for_the_group(
    site: ConfluenceStandin, mapped: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    async with world(mapped, embedder, tmp_path) as w:
        await w.registry.put(source(site))
        assert (await synced(w, "wiki")).ok
        assert "Quokka" in (await found(w, DEPLOYS, PUBLIC))["ENG/1002"]

        site.restrict("1002", ["engineering"])  # a read restriction …
        site.edit("1002", "<p>Deploys now go out on Mondays through the Platypus train.</p>")
        del site.views["1002"]  # … and a new version whose body cannot be fetched (404)
        status = await synced(w, "wiki")

        assert status.failed == 1 and status.errors[0].startswith("ENG/1002: cannot fetch")
        assert "ENG/1002" not in await found(w, DEPLOYS, PUBLIC)
        assert "Quokka" in (await found(w, DEPLOYS, ENGINEERS))["ENG/1002"]  # the old text, for engineering
        attachment = "ENG/1002/attachments/att5001"  # unchanged, so restricted at once without a fetch
        assert attachment not in await found(w, "canary error budget dashboard", PUBLIC)
        assert attachment in await found(w, "canary error budget dashboard", ENGINEERS)
        assert "ENG/1001" in await found(w, "service owner catalog", PUBLIC)  # the positive control


async def test_a_page_whose_restrictions_are_left_out_is_readable_by_nobody_with_a_reason(
    site: ConfluenceStandin, mapped: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    async with world(mapped, embedder, tmp_path) as w:
        await w.registry.put(source(site))
        await synced(w, "wiki")
        assert "ENG/1002" in await found(w, DEPLOYS, PUBLIC)

        del site.pages["1002"]["restrictions"]  # Confluence answers without this page's restrictions
        status = await synced(w, "wiki")

        unknown = "who may read it is unknown: Confluence left its read restrictions out of the answer"
        assert status.failed == 3  # the page and its two attachments
        assert all(e.startswith("ENG/1002") and unknown in e for e in status.errors)
        everyone = ["public", "group:engineering", "group:confluence-administrators", "user:ana@example.com"]
        assert "ENG/1002" not in await found(w, DEPLOYS, everyone)
        assert "ENG/1002/attachments/att5001" not in await found(w, "canary error budget dashboard", everyone)
        assert "ENG/1001" in await found(w, "service owner catalog", PUBLIC)  # the listing went on
