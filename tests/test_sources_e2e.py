"""Sources end to end, as an admin lives them: `/lore add` through the modal, the arq worker syncs, Lore
answers from it; an edit re-embeds one document, a deletion and an access change are applied, `/lore
remove` deletes every chunk. Real Redis, real arq worker (burst mode), the Slack stand-in over HTTP."""

from __future__ import annotations

from pathlib import Path

from knowledge.access import Principal
from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from tests.slack_standin import SlackStandin
from tests.sources_harness import ADMIN, deployed, docs_found, said, work

PAGES = {
    "holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n",
    "laptops.md": "# Laptops\n\nNew hires receive a laptop from IT on their first day.\n",
}


async def test_an_admin_adds_a_folder_and_the_worker_keeps_it_in_sync(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder, redis_url: str, tmp_path: Path
) -> None:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    for name, text in PAGES.items():
        (wiki / name).write_text(text, encoding="utf-8")
    async with deployed(settings, slack, embedder, redis_url, tmp_path) as lore:
        bot, kb, index, registry, context = lore.bot, lore.kb, lore.index, lore.registry, lore.context
        audit = lore.audit
        await bot.command(ADMIN, "add")
        [opened] = await slack.wait_for("views.open")
        typed = {"source_id": "wiki", "location": str(wiki), "access": "public", "every": "1h"}
        status, body = await bot.submit_view(ADMIN, opened.args["view"], typed)
        assert status == 200 and body == {}
        await work(context, redis_url)
        answer = await kb.ask("How many days of paid holiday do we get?", Principal.anonymous())
        assert "25 days" in answer.answer and answer.citations[0].doc_id == "holidays.md"
        await slack.wait_until(
            lambda: any("finished" in c.args.get("text", "") for c in slack.calls_to("chat.postMessage")),
            "the admin's 'sync finished' message",
        )

        embedded = embedder.texts_embedded
        (wiki / "holidays.md").write_text(PAGES["holidays.md"].replace("25", "30"), encoding="utf-8")
        assert "wiki" in (await said(bot, "sync wiki"))["text"]
        await work(context, redis_url)
        assert embedder.texts_embedded - embedded == len(
            await index.document_chunks("wiki", "holidays.md", ["public"])
        )
        answer = await kb.ask("How many days of paid holiday do we get?", Principal.anonymous())
        assert "30 days" in answer.answer

        (wiki / "laptops.md").unlink()
        await said(bot, "sync wiki")
        await work(context, redis_url)
        assert "laptops.md" not in await docs_found(kb, "laptop from IT", ["public"])

        record = await registry.get("wiki")
        assert record is not None
        await registry.put(record.source.model_copy(update={"access": ["group:staff"]}))
        embedded = embedder.texts_embedded
        await said(bot, "sync wiki")
        await work(context, redis_url)
        assert embedder.texts_embedded == embedded  # an access change re-embeds nothing
        assert await docs_found(kb, "paid holiday", ["public"]) == set()
        assert await docs_found(kb, "paid holiday", ["public", "group:staff"]) == {"holidays.md"}

        reply = await said(bot, "remove wiki")
        [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
        confirm = next(b for b in actions["elements"] if b["action_id"] == "lore_remove_confirm")
        assert await bot.click(ADMIN, "CGENERAL", confirm) == 200
        await bot.replies(f"{ADMIN}-lore_remove_confirm")
        await work(context, redis_url)
        assert await index.count("wiki") == 0 and await registry.get("wiki") is None
        assert [e.action for e in await audit.latest()] == ["remove", "sync", "sync", "sync", "add"]
