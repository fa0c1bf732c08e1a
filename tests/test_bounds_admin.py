"""Someone who is not an admin cannot change sources by sending Slack what an admin's client would send: a
submitted add form and a click on a removal's confirmation are refused and change nothing (registry, audit
log, job queue). The same requests from the admin do change them (the positive control)."""

from __future__ import annotations

from knowledge.service import Knowledge
from knowledge.settings import Settings
from tests.bot_harness import BOB
from tests.bounds_harness import admin_bot
from tests.slack_standin import SlackStandin
from tests.test_admin import CARL_ADMIN, WIKI, asked_to_remove

FORM = {"source_id": "wiki", "location": "/srv/wiki", "access": "public", "every": "1h"}


async def test_a_non_admins_add_form_is_refused_and_changes_nothing(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with admin_bot(loaded_kb, settings, slack, files_roots=["/srv"]) as lore:
        await lore.bot.command(CARL_ADMIN, "add")
        [opened] = await lore.bot.slack.wait_for("views.open")  # the form, as Carl's client got it
        status, body = await lore.bot.submit_view(BOB, opened.args["view"], FORM)
        await lore.done()
        assert status == 200 and "Only Lore admins" in body["errors"]["kind"]
        assert await lore.registry.all() == [] and await lore.audit.latest() == []
        assert lore.worker.synced == [] and (await lore.jobs.status()).queued == 0
        status, body = await lore.bot.submit_view(CARL_ADMIN, opened.args["view"], FORM)
        await lore.done()
        assert body == {} and [r.source.id for r in await lore.registry.all()] == ["wiki"]
        assert [e.who for e in await lore.audit.latest()] == [CARL_ADMIN]
        assert [r.source_id for r in lore.worker.synced] == ["wiki"]


async def test_a_non_admins_click_on_remove_is_refused_and_changes_nothing(
    loaded_kb: Knowledge, settings: Settings, slack: SlackStandin
) -> None:
    async with admin_bot(loaded_kb, settings, slack) as lore:
        buttons = await asked_to_remove(lore)  # the confirmation Carl was shown
        assert await lore.bot.click(BOB, "CGENERAL", buttons["lore_remove_confirm"]) == 200
        [refused] = await lore.bot.replies(f"{BOB}-lore_remove_confirm")
        await lore.done()
        assert "Only Lore admins" in refused["text"]
        assert [r.source for r in await lore.registry.all()] == [WIKI]
        assert await lore.audit.latest() == [] and lore.worker.deleted == []
        assert await lore.bot.click(CARL_ADMIN, "CGENERAL", buttons["lore_remove_confirm"]) == 200
        [done] = await lore.bot.replies(f"{CARL_ADMIN}-lore_remove_confirm")
        await lore.done()
        assert "Removing *wiki*" in done["text"] and [r.source_id for r in lore.worker.deleted] == ["wiki"]
        assert [(e.who, e.action) for e in await lore.audit.latest()] == [(CARL_ADMIN, "remove")]
