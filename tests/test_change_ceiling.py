"""A source's ceiling, set where sources are added (`/lore add` in one line or in the form, `lore sources
add`), shown to admins in `/lore sources`, and applied to every document (the engine's side is tested in
tests/test_change_access_first.py)."""

from __future__ import annotations

from pathlib import Path

from bot.admin.source_input import fields_from_line, source_from_fields
from bot.admin.views import visible
from knowledge.access import Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Source, SourceRecord
from tests.conftest import write_pages
from tests.slack_standin import SlackStandin
from tests.sources_harness import ADMIN, deployed, docs_found, said, work
from tests.test_cli import lore

PAGES = {"holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n"}


def test_the_one_line_form_reads_a_ceiling_and_says_what_is_wrong_with_one() -> None:
    kind, values = fields_from_line(
        ["web", "docs", "https://docs.example.com/", "access=public", "ceiling=group:Staff"]
    )
    assert source_from_fields(kind, values, added_by=ADMIN).ceiling == ["group:staff"]
    kind, values = fields_from_line(["web", "docs", "https://docs.example.com/", "access=public"])
    assert source_from_fields(kind, values, added_by=ADMIN).ceiling is None
    kind, values = fields_from_line(
        ["web", "docs", "https://docs.example.com/", "access=public", "ceiling=staff"]
    )
    try:
        source_from_fields(kind, values, added_by=ADMIN)
    except ValueError as exc:
        assert "invalid access 'staff'" in str(exc)
    else:
        raise AssertionError("a ceiling that is no access string was accepted")


async def test_an_admin_sets_a_ceiling_in_slack_and_nobody_reads_beyond_it(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder, redis_url: str, tmp_path: Path
) -> None:
    wiki = write_pages(tmp_path / "wiki", PAGES)
    intranet = write_pages(tmp_path / "intranet", {"parking.md": "# Parking\n\nThe garage is on level -2.\n"})
    async with deployed(settings, slack, embedder, redis_url, tmp_path) as lore_:
        bot, registry, context, kb = lore_.bot, lore_.registry, lore_.context, lore_.kb
        line = f"add files wiki {wiki} access=public ceiling=group:hr"
        assert "Added *wiki*" in (await said(bot, line))["text"]
        await bot.command(ADMIN, "add")  # the form has the field too
        [opened] = await slack.wait_for("views.open")
        assert "ceiling" in {block.get("block_id") for block in opened.args["view"]["blocks"]}
        typed = {"source_id": "intranet", "location": str(intranet), "access": "public", "every": "1h"}
        status, _ = await bot.submit_view(ADMIN, opened.args["view"], typed | {"ceiling": "group:staff"})
        assert status == 200
        await work(context, redis_url)

        for source_id, ceiling in (("wiki", ["group:hr"]), ("intranet", ["group:staff"])):
            record = await registry.get(source_id)
            assert record is not None and record.source.ceiling == ceiling
        assert await docs_found(kb, "paid holiday", ["public"]) == set()
        assert "holidays.md" in await docs_found(kb, "paid holiday", ["public", "group:hr"])
        assert "parking.md" not in await docs_found(kb, "garage level", ["public", "group:hr"])
        assert await docs_found(kb, "garage level", ["public", "group:staff"]) == {"parking.md"}
        shown = (await said(bot, "sources"))["text"]
        assert "ceiling group:hr" in shown and "ceiling group:staff" in shown


def test_lore_sources_add_takes_a_ceiling(tmp_path: Path) -> None:
    wiki = write_pages(tmp_path / "wiki", PAGES)
    added = lore(
        "sources", "add", "files", "wiki", str(wiki), "access=public", "ceiling=group:hr", cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    assert '"results": []' in lore("search", "paid holiday", "--json", cwd=tmp_path).stdout
    allowed = lore("search", "paid holiday", "--groups", "hr", "--json", cwd=tmp_path).stdout
    assert '"doc_id": "holidays.md"' in allowed


def test_a_source_is_named_only_to_who_may_read_under_its_ceiling() -> None:
    capped = SourceRecord(
        source=Source(
            id="hr-cases",
            location=["/srv/cases"],
            access=["public"],
            overrides={"x": ["group:x"]},
            ceiling=["group:hr"],
        )
    )
    assert visible([capped], Principal.of(groups=["x"])) == []  # neither its access nor its override
    assert visible([capped], Principal.anonymous()) == []
    assert visible([capped], Principal.of(groups=["hr"])) == [capped]  # the positive control
