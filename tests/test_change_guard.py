"""The mass-deletion guard: a listing that would delete most of a source (an unmounted share looks exactly
like that) deletes nothing, says so on the status, the CLI and the admin's DM, and waits for an admin to
confirm with --allow-deletes; access changes and new documents still apply; fewer deletions go through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ingestion.worker import inline_jobs
from knowledge.embedding.cache import CachedEmbedder
from knowledge.jobs import JobRequest
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.change_harness import ADMIN as ASKER
from tests.change_harness import World, found, last_told, synced, world
from tests.slack_standin import SlackStandin
from tests.sources_harness import ADMIN, deployed, docs_found, said, work
from tests.test_cli import lore

NOTES = {
    f"note{i}.md": f"# Note {i}\n\nThe Marmot project milestone {i} is due in week {i + 10}.\n"
    for i in range(6)
}
GUARD = {"delete_guard_min": 3}  # 3 of 6 notes already look like an unmounted share


def notes(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in NOTES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def source(root: Path, **update: object) -> Source:
    return Source(id="wiki", location=[str(root)], access=["public"]).model_copy(update=update)


@asynccontextmanager
async def synced_notes(settings: Settings, embedder: CachedEmbedder, tmp_path: Path) -> AsyncIterator[World]:
    """A deployment (guard minimum 3) with the six notes registered as source `wiki` and synced."""
    root = notes(tmp_path / "share")
    async with world(settings.model_copy(update=GUARD), embedder, tmp_path) as w:
        await w.registry.put(source(root))
        await synced(w, "wiki")
        yield w


async def test_an_emptied_folder_deletes_nothing_until_an_admin_confirms(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = tmp_path / "share"
    async with synced_notes(settings, embedder, tmp_path) as w:
        chunks = await w.index.count("wiki")
        for path in root.iterdir():  # the share is unmounted: the mount point lists nothing
            path.unlink()
        status = await synced(w, "wiki")
        assert (status.ok, status.deleted) == (False, 0)
        assert "NOTHING WAS DELETED: 6 of the 6 documents are gone" in status.summary
        assert "`/lore sync wiki --allow-deletes`" in status.summary
        assert await w.index.count("wiki") == chunks
        assert "note1.md" in await found(w, "Marmot milestone 1", ["public"])
        told = last_told(w)
        assert (
            "*Nothing was deleted*: 6 of its 6 documents" in told
            and "`/lore sync wiki --allow-deletes`" in told
        )

        jobs = inline_jobs(w.context)  # embedded mode's jobs carry the confirmation too
        assert await jobs.request_sync(JobRequest(source_id="wiki", requested_by=ASKER, allow_deletes=True))
        await jobs.drain()
        record = await w.registry.get("wiki")
        assert record is not None and (record.status.ok, record.status.deleted) == (True, 6)
        assert await w.index.count("wiki") == 0


async def test_held_deletions_still_let_access_changes_and_new_documents_through(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = notes(tmp_path / "share")
    (root / "keep").mkdir()
    (root / "keep" / "pay.md").write_text("# Pay\n\nThe Quokka bonus pool is 4 percent.\n", encoding="utf-8")
    async with world(settings.model_copy(update=GUARD), embedder, tmp_path) as w:
        await w.registry.put(source(root))
        await synced(w, "wiki")
        for name in NOTES:
            (root / name).unlink()
        (root / "keep" / "new.md").write_text("# New\n\nThe canteen opens at noon.\n", encoding="utf-8")
        await w.registry.put(source(root, overrides={"keep": ["group:hr"]}))
        status = await synced(w, "wiki")
        assert (status.deleted, status.added) == (0, 1) and "6 of the 7 documents" in status.summary
        assert "keep/pay.md" not in await found(w, "Quokka bonus pool", ["public"])
        assert "keep/pay.md" in await found(w, "Quokka bonus pool", ["public", "group:hr"])
        assert "keep/new.md" in await found(w, "when does the canteen open", ["public", "group:hr"])


async def test_fewer_deletions_than_the_guard_go_through(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = tmp_path / "share"
    async with synced_notes(settings, embedder, tmp_path) as w:
        (root / "note0.md").unlink()
        (root / "note1.md").unlink()  # 2 of 6: below the minimum of 3
        status = await synced(w, "wiki")
        assert (status.ok, status.deleted) == (True, 2) and "NOTHING" not in status.summary
        assert not {"note0.md", "note1.md"} & set(await found(w, "Marmot milestone 0 1", ["public"]))


def test_lore_ingest_of_an_emptied_folder_exits_non_zero_until_confirmed(tmp_path: Path) -> None:
    root = notes(tmp_path / "share")
    args = ("ingest", str(root), "--source", "wiki", "--access", "public")
    assert lore(*args, cwd=tmp_path).returncode == 0
    for path in root.iterdir():
        path.unlink()
    held = lore(*args, cwd=tmp_path)
    assert held.returncode == 1, held.stderr
    assert "0 deleted" in held.stdout and "NOTHING WAS DELETED: 6 of the 6 documents" in held.stdout
    assert f"confirm with: lore ingest {root} --source wiki --access public --allow-deletes" in held.stderr
    assert '"doc_id": "note2.md"' in lore("search", "Marmot milestone 2", "--json", cwd=tmp_path).stdout
    listed = lore("sources", "list", cwd=tmp_path).stdout
    assert "\tfailed\t" in listed and "lore sources sync wiki --allow-deletes" in listed

    confirmed = lore("sources", "sync", "wiki", "--allow-deletes", cwd=tmp_path)
    assert confirmed.returncode == 0, confirmed.stderr
    assert "6 deleted" in confirmed.stdout
    assert '"results": []' in lore("search", "Marmot milestone 2", "--json", cwd=tmp_path).stdout


async def test_slack_admins_confirm_with_allow_deletes_and_others_are_refused(
    settings: Settings, slack: SlackStandin, embedder: CachedEmbedder, redis_url: str, tmp_path: Path
) -> None:
    root = notes(tmp_path / "share")
    async with deployed(settings.model_copy(update=GUARD), slack, embedder, redis_url, tmp_path) as lore_:
        bot, registry, context, kb = lore_.bot, lore_.registry, lore_.context, lore_.kb
        assert "Added *wiki*" in (await said(bot, f"add files wiki {root} access=public"))["text"]
        await work(context, redis_url)
        for path in root.iterdir():
            path.unlink()
        await said(bot, "sync wiki")
        await work(context, redis_url)
        record = await registry.get("wiki")
        assert (
            record is not None
            and record.status.ok is False
            and "NOTHING WAS DELETED" in record.status.summary
        )
        dm = slack.calls_to("chat.postMessage")[-1].args
        assert dm["channel"] == ADMIN and "`/lore sync wiki --allow-deletes`" in dm["text"]

        [refused] = await bot.replies(await bot.command("UBOB", "sync wiki --allow-deletes"))
        assert "admin" in refused["text"].lower() and "queued" not in refused["text"]
        await work(context, redis_url)
        assert "note3.md" in await docs_found(kb, "Marmot milestone 3", ["public"])  # nothing was queued

        reply = await said(bot, "sync wiki --allow-deletes")
        assert "allowed to delete" in reply["text"]
        await work(context, redis_url)
        assert await docs_found(kb, "Marmot milestone 3", ["public"]) == set()
        record = await registry.get("wiki")
        assert record is not None and (record.status.ok, record.status.deleted) == (True, 6)
        assert [(e.action, e.detail) for e in (await lore_.audit.latest())[:2]] == [
            ("sync", "sync now --allow-deletes"),
            ("sync", "sync now"),
        ]
