"""A `files` source added from Slack lies inside LORE_FILES_ROOTS (resolved: `..` and links cannot leave
it; none set = no files sources from Slack). The terminal may add any folder. A Slack-added source is held
to the setting at every sync, so narrowing it takes effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.connectors.base import ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.connectors.registry import connector_for
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.source_policy import refusals
from knowledge.sources import Source
from tests.bounds_harness import admin_bot
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, said


@pytest.fixture
def shares(tmp_path: Path) -> Path:
    """`shares/` (the allowed root) with a wiki folder and a link out of it; `private/` beside it."""
    (tmp_path / "shares" / "wiki").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    (tmp_path / "shares" / "out").symlink_to(tmp_path / "private")
    return tmp_path / "shares"


@pytest.mark.parametrize(
    ("folder", "refused"),
    [
        ("shares/wiki", None),
        ("private", "outside the folders Slack admins may index"),
        ("shares/../private", "outside the folders Slack admins may index"),
        ("shares/out", "outside the folders Slack admins may index"),  # a link inside, pointing out
    ],
)
async def test_slack_admins_add_folders_inside_the_roots_only(
    loaded_kb: Knowledge,
    settings: Settings,
    slack: SlackStandin,
    shares: Path,
    folder: str,
    refused: str | None,
) -> None:
    path = shares.parent / folder
    async with admin_bot(loaded_kb, settings, slack, files_roots=[shares]) as lore:
        reply = await said(lore, CARL_ADMIN, f"add files wiki {path} access=public")
        await lore.done()
        added = await lore.registry.all()
    if refused is None:
        assert "Added *wiki*" in reply and [r.source.location for r in added] == [[str(path)]]
    else:
        assert refused in reply and "LORE_FILES_ROOTS" in reply
        assert added == [] and lore.worker.synced == []


async def test_without_roots_slack_admins_add_no_folder_and_are_told_why(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin, shares: Path
) -> None:
    async with admin_bot(loaded_kb, settings, slack, files_roots=[]) as lore:
        await lore.bot.command(CARL_ADMIN, "add")
        [opened] = await lore.bot.slack.wait_for("views.open")
        typed = {"source_id": "wiki", "location": str(shares / "wiki"), "access": "public"}
        _, body = await lore.bot.submit_view(CARL_ADMIN, opened.args["view"], typed)
        assert list(body["errors"]) == ["location"]
        assert (
            "LORE_FILES_ROOTS" in body["errors"]["location"]
            and "lore sources add" in body["errors"]["location"]
        )
        assert await lore.registry.all() == []


def test_the_terminal_may_add_any_folder(settings: Settings, tmp_path: Path) -> None:
    by_cli = Source(id="etc", location=["/etc"], access=["public"], added_by="cli")
    strict = settings.model_copy(update={"files_roots": []})
    assert refusals(by_cli, strict) == {} and isinstance(connector_for(by_cli, strict), FilesConnector)
    assert "location" in refusals(by_cli, strict, from_slack=True)  # the same folder, from Slack


def test_narrowing_the_roots_stops_the_next_sync_of_a_slack_added_folder(
    settings: Settings, shares: Path
) -> None:
    added = Source(id="wiki", location=[str(shares / "wiki")], access=["public"], added_by="UCARL")
    assert isinstance(
        connector_for(added, settings.model_copy(update={"files_roots": [shares]})), FilesConnector
    )
    narrowed = settings.model_copy(update={"files_roots": [shares / "hr"]})
    with pytest.raises(ListingError, match="LORE_FILES_ROOTS") as refused:
        connector_for(added, narrowed)
    assert refused.value.retryable is False  # fails like a listing: nothing is pruned, the status says why
