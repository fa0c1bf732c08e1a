"""Access first, on a folder: the world changes between two syncs (a document is narrowed and its new content
cannot be read), and a real search shows that the old text is left only to those allowed under both the old
and the new access; the document is indexed anew once its content can be read. Also: a ceiling bounds every
document, and changing it re-applies access without embedding anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.embedding.cache import CachedEmbedder
from knowledge.settings import Settings
from knowledge.sources import Source
from tests.change_harness import found, last_told, synced, world
from tests.conftest import write_pages

PAGES = {
    "holidays.md": "# Holidays\n\nEveryone gets 25 days of paid holiday per year.\n",
    "pay.md": "# Pay\n\nThe Quokka bonus pool is 4 percent of payroll, paid in March.\n",
}
QUESTION = "How big is the Quokka bonus pool?"
PUBLIC, HR = ["public"], ["public", "group:hr"]
LIMIT_MB = 0.02  # 20 kB: a page grows past it in the tests


def folder(tmp_path: Path) -> Path:
    return write_pages(tmp_path / "wiki", PAGES)


def wiki(root: Path, **update: object) -> Source:
    return Source(id="wiki", location=[str(root)], access=["public"]).model_copy(update=update)


def unreadable(path: Path, how: str) -> None:
    """Change `path` so that its new content cannot be indexed: past the size limit, or not text."""
    if how == "too large":
        path.write_text("# Pay\n\n" + "The pool grows. " * 2000, encoding="utf-8")
    else:
        path.write_bytes(bytes(range(256)) * 20)


@pytest.mark.parametrize("how", ["too large", "not parseable"])
async def test_a_narrowed_document_whose_new_content_fails_keeps_its_old_text_for_the_allowed_only(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path, how: str
) -> None:
    root = folder(tmp_path)
    async with world(settings.model_copy(update={"max_file_mb": LIMIT_MB}), embedder, tmp_path) as w:
        await w.registry.put(wiki(root))
        assert (await synced(w, "wiki")).ok
        assert "Quokka" in (await found(w, QUESTION, PUBLIC)).get("pay.md", "")

        await w.registry.put(wiki(root, overrides={"pay.md": ["group:hr"]}))  # narrowed to hr …
        unreadable(root / "pay.md", how)  # … and changed into something that cannot be indexed
        status = await synced(w, "wiki")

        assert status.ok is False and status.failed == 1 and status.errors[0].startswith("pay.md: ")
        assert "pay.md" not in await found(w, QUESTION, PUBLIC)
        assert all("Quokka" not in text for text in (await found(w, QUESTION, PUBLIC)).values())
        assert "Quokka" in (await found(w, QUESTION, HR))["pay.md"]  # the old text, for hr only
        assert "holidays.md" in await found(w, "paid holiday", PUBLIC)  # the rest is untouched
        assert "pay.md" in last_told(w)

        again = await synced(w, "wiki")  # still failing: nothing widens, nothing is lost
        assert again.failed == 1 and "pay.md" not in await found(w, QUESTION, PUBLIC)
        assert "pay.md" in await found(w, QUESTION, HR)

        (root / "pay.md").write_text("# Pay\n\nThe Quokka bonus pool is 5 percent now.\n", encoding="utf-8")
        fixed = await synced(w, "wiki")
        assert fixed.ok and fixed.updated == 1
        assert "5 percent" in (await found(w, QUESTION, HR))["pay.md"]
        assert "pay.md" not in await found(w, QUESTION, PUBLIC)


async def test_a_widened_document_whose_new_content_fails_stays_as_narrow_as_it_was(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = folder(tmp_path)
    async with world(settings.model_copy(update={"max_file_mb": LIMIT_MB}), embedder, tmp_path) as w:
        await w.registry.put(wiki(root, overrides={"pay.md": ["group:hr"]}))
        await synced(w, "wiki")
        assert "pay.md" not in await found(w, QUESTION, PUBLIC)
        await w.registry.put(wiki(root))  # opened to everyone, but its new content cannot be read
        unreadable(root / "pay.md", "too large")
        assert (await synced(w, "wiki")).failed == 1
        assert "pay.md" not in await found(w, QUESTION, PUBLIC)  # the old text was never public
        assert "pay.md" in await found(w, QUESTION, HR)


async def test_a_ceiling_bounds_every_document_and_a_new_ceiling_embeds_nothing(
    settings: Settings, embedder: CachedEmbedder, tmp_path: Path
) -> None:
    root = folder(tmp_path)
    async with world(settings, embedder, tmp_path) as w:
        await w.registry.put(wiki(root, ceiling=["group:hr"]))
        assert (await synced(w, "wiki")).added == 2
        assert await found(w, "paid holiday", PUBLIC) == {}  # public documents, under an hr ceiling
        assert set(await found(w, "paid holiday", HR)) >= {"holidays.md"}
        embedded = embedder.texts_embedded

        await w.registry.put(wiki(root, ceiling=["public"]))  # the ceiling lifted
        status = await synced(w, "wiki")
        assert (status.unchanged, status.updated) == (0, 0) and embedder.texts_embedded == embedded
        assert "holidays.md" in await found(w, "paid holiday", PUBLIC)

        await w.registry.put(wiki(root, ceiling=["group:staff"]))  # another group: hr reads nothing now
        await synced(w, "wiki")
        assert await found(w, "paid holiday", HR) == {}
        assert "holidays.md" in await found(w, "paid holiday", ["public", "group:staff"])
        assert embedder.texts_embedded == embedded
