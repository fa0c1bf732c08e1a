import asyncio
import os
import time
import zipfile
from pathlib import Path

import pytest

from bench.hash_embedder import HashEmbedder
from ingestion.connectors.base import DocumentRef, ListingError
from ingestion.connectors.files import FilesConnector
from ingestion.parse_pool import ParseJob, ParseOutcome, ParsePool
from ingestion.parsing import ParseError
from ingestion.state import SyncState
from ingestion.sync import SyncEngine
from knowledge.access import PUBLIC, Principal
from knowledge.service import Knowledge
from lore.runtime import engine_over
from tests.conftest import write_pages

PAGES = {
    "expenses.md": "# Expenses\n\n## Reimbursement\n\nExpenses are reimbursed within 30 days of approval.\n",
    "travel.md": "# Travel\n\nBook flights through the travel desk at least two weeks ahead.\n",
    "leave.md": "# Leave\n\nParental leave is sixteen weeks, fully paid.\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_pages(tmp_path / "wiki", PAGES)


def files(folder: Path, acl: str = "public") -> FilesConnector:
    return FilesConnector([folder], [acl])


async def test_first_sync_adds_every_document(engine: SyncEngine, kb: Knowledge, folder: Path) -> None:
    result = await engine.sync("wiki", files(folder))
    assert (result.added, result.failed) == (3, 0)
    assert await kb.index.count("wiki") == result.chunks >= 3


async def test_unchanged_rerun_embeds_nothing(engine: SyncEngine, kb: Knowledge, folder: Path) -> None:
    await engine.sync("wiki", files(folder))
    before = kb.embedder.texts_embedded
    (folder / "leave.md").touch()  # a new mtime, the same content
    result = await engine.sync("wiki", files(folder))
    assert (result.unchanged, result.added, result.updated) == (3, 0, 0)
    assert kb.embedder.texts_embedded == before


async def test_edit_reembeds_only_that_document(engine: SyncEngine, kb: Knowledge, folder: Path) -> None:
    await engine.sync("wiki", files(folder))
    before = kb.embedder.texts_embedded
    (folder / "travel.md").write_text("# Travel\n\nTrains are preferred for trips under four hours.\n")
    result = await engine.sync("wiki", files(folder))
    assert (result.updated, result.unchanged) == (1, 2)
    assert kb.embedder.texts_embedded - before == result.chunks == 1
    [hit] = await kb.retriever.search("are trains preferred?", ["public"], k=1)
    assert hit.chunk.doc_id == "travel.md" and "Trains" in hit.chunk.text


async def test_deleted_file_leaves_the_index(engine: SyncEngine, kb: Knowledge, folder: Path) -> None:
    await engine.sync("wiki", files(folder))
    (folder / "leave.md").unlink()
    result = await engine.sync("wiki", files(folder))
    assert result.deleted == 1
    hits = await kb.retriever.search("parental leave weeks", ["public"], k=10)
    assert "leave.md" not in {h.chunk.doc_id for h in hits}


async def test_access_change_is_applied_without_embedding(
    engine: SyncEngine, kb: Knowledge, folder: Path
) -> None:
    await engine.sync("wiki", files(folder))
    before = kb.embedder.texts_embedded
    result = await engine.sync("wiki", files(folder, "group:finance"))
    assert result.acl_updated == 3
    assert kb.embedder.texts_embedded == before
    assert await kb.retriever.search("expenses reimbursed", ["public"]) == []
    assert (await kb.retriever.search("expenses reimbursed", ["group:finance"]))[
        0
    ].chunk.doc_id == "expenses.md"


async def test_a_failed_listing_prunes_nothing(
    engine: SyncEngine, kb: Knowledge, folder: Path, tmp_path: Path
) -> None:
    await engine.sync("wiki", files(folder))
    count = await kb.index.count("wiki")
    with pytest.raises(ListingError):
        await engine.sync("wiki", files(tmp_path / "unmounted"))
    assert await kb.index.count("wiki") == count


async def test_resume_after_a_crash_leaves_no_duplicates(
    engine: SyncEngine, kb: Knowledge, folder: Path
) -> None:
    await engine.sync("wiki", files(folder))
    count = await kb.index.count("wiki")
    await engine.state.delete("wiki", "travel.md")  # killed after storing chunks, before recording state
    result = await engine.sync("wiki", files(folder))
    assert (result.added, result.unchanged) == (1, 2)
    assert await kb.index.count("wiki") == count


async def test_shrinking_document_leaves_no_stale_chunks(
    engine: SyncEngine, kb: Knowledge, folder: Path
) -> None:
    long = "# Long\n\n" + "\n\n".join(
        f"## Part {i}\n\n" + f"Paragraph {i} says something. " * 40 for i in range(6)
    )
    (folder / "long.md").write_text(long)
    first = await engine.sync("wiki", files(folder))
    (folder / "long.md").write_text("# Long\n\nNow it is short.\n")
    await engine.sync("wiki", files(folder))
    chunks = await kb.index.document_chunks("wiki", "long.md", ["public"])
    assert first.chunks > 4 and [c.text for c in chunks] == ["Now it is short."]


async def test_remove_source_deletes_every_chunk(engine: SyncEngine, kb: Knowledge, folder: Path) -> None:
    await engine.sync("wiki", files(folder))
    await engine.sync("other", files(folder))
    await engine.remove_source("wiki")
    assert await kb.index.count("wiki") == 0 and await kb.index.count("other") > 0
    assert await engine.state.documents("wiki") == {}


BAD = {
    "empty.md": b"",
    "junk.txt": bytes(range(256)) * 40,
    "corrupt.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\x00\x9f",
    "drawing.xyz": b"not a format Lore knows",
}


async def test_bad_files_get_a_reason_and_lose_nothing_else(
    engine: SyncEngine, kb: Knowledge, folder: Path
) -> None:
    for name, data in BAD.items():
        (folder / name).write_bytes(data)
    with (folder / "huge.txt").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, instant to create
    with zipfile.ZipFile(folder / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("word/document.xml", bytes(30_000_000))  # 30 kB on disk, 30 MB expanded
    result = await engine.sync("wiki", files(folder))
    reasons = {e.doc_id: e.reason for e in result.errors}
    assert (result.added, result.failed) == (3, 6)
    assert "possible zip bomb" in reasons["bomb.docx"]
    assert reasons["empty.md"].startswith("empty file")
    assert "binary" in reasons["junk.txt"]
    assert "pdf" in reasons["corrupt.pdf"]
    assert "unsupported file type .xyz" in reasons["drawing.xyz"]
    assert reasons["huge.txt"].startswith("file too large (52.4 MB > 25 MB")
    assert {h.chunk.doc_id for h in await kb.retriever.search("parental leave", ["public"], k=10)} <= set(
        PAGES
    )


async def test_parser_process_is_killed_on_timeout_and_replaced(folder: Path) -> None:
    pool = ParsePool(workers=1, timeout=0.05)  # far below a parser process's start-up time
    try:
        with pytest.raises(ParseError, match="LORE_PARSE_TIMEOUT"):
            await pool.parse(folder / "leave.md", max_bytes=10**6, size=256, overlap=32)
        pool.timeout = 120
        parsed = await pool.parse(folder / "leave.md", max_bytes=10**6, size=256, overlap=32)
        assert parsed.title == "Leave" and "sixteen weeks" in parsed.drafts[0].text
    finally:
        await pool.close()


async def test_a_file_that_hangs_in_a_batch_fails_alone_after_one_time_limit(folder: Path) -> None:
    pipe = folder / "pipe.md"
    os.mkfifo(pipe)  # opening it blocks forever: a file whose read hangs
    pool = ParsePool(workers=1, timeout=60)
    try:
        await pool.parse(folder / "leave.md", max_bytes=10**6, size=256, overlap=32)  # the process is up
        pool.timeout = 8
        jobs = [ParseJob(path=str(folder / name)) for name in ("leave.md", "pipe.md", "travel.md")]
        started = time.monotonic()
        leave, hung, travel = await pool.read(jobs, max_bytes=10**6, size=256, overlap=32)
        # one time limit, then a fresh parser reads the others: not a limit for the batch and one for the file
        assert time.monotonic() - started < 2 * pool.timeout
        assert hung.error is not None and "LORE_PARSE_TIMEOUT" in hung.error and hung.parsed is None
        assert leave.parsed is not None and "sixteen weeks" in leave.parsed.drafts[0].text
        assert travel.parsed is not None and travel.parsed.title == "Travel"
        known = ParseJob(path=str(folder / "leave.md"), known_hash=leave.content_hash)
        [unchanged] = await pool.read([known], max_bytes=10**6, size=256, overlap=32)
        assert (unchanged.content_hash, unchanged.parsed) == (leave.content_hash, None)
    finally:
        await pool.close()


async def test_a_file_queued_behind_a_hanging_one_is_not_blamed_for_it(folder: Path) -> None:
    pipe = folder / "pipe.md"
    os.mkfifo(pipe)  # opening it blocks forever
    pool = ParsePool(workers=1, timeout=60)  # one process, shared by two syncs
    try:
        await pool.parse(folder / "leave.md", max_bytes=10**6, size=256, overlap=32)  # the process is up
        pool.timeout = 4
        hanging = pool.read([ParseJob(path=str(pipe))], max_bytes=10**6, size=256, overlap=32)
        queued = pool.read([ParseJob(path=str(folder / "travel.md"))], max_bytes=10**6, size=256, overlap=32)
        [hung], [travel] = await asyncio.gather(hanging, queued)
        assert hung.error is not None and "LORE_PARSE_TIMEOUT" in hung.error
        assert travel.error is None and travel.parsed is not None and travel.parsed.title == "Travel"
    finally:
        await pool.close()


class CountingPool(ParsePool):
    """A parser pool that counts its calls and the files of each."""

    def __init__(self) -> None:
        super().__init__(workers=0)
        self.batches: list[int] = []

    async def read(self, jobs: list[ParseJob], **limits: int) -> list[ParseOutcome]:
        self.batches.append(len(jobs))
        return await super().read(jobs, **limits)


async def test_small_local_files_are_parsed_together(kb: Knowledge, state: SyncState, tmp_path: Path) -> None:
    notes = {f"note-{n:02d}.md": f"# Note {n}\n\nRoom {n} is on floor {n % 5}.\n" for n in range(40)}
    folder = write_pages(tmp_path / "notes", notes)
    pool = CountingPool()
    engine = engine_over(kb.settings, kb.index, kb.embedder, pool, state)
    result = await engine.sync("notes", files(folder))
    assert (result.added, result.failed) == (40, 0) and sum(pool.batches) == 40
    assert len(pool.batches) < 10  # one call per file would be 40
    downloaded = CountingPool()
    engine = engine_over(kb.settings, kb.index, kb.embedder, downloaded, state)
    (folder / "note-03.md").write_text("# Note 3\n\nRoom 3 moved to floor 9.\n", encoding="utf-8")
    (folder / "note-04.md").write_text("# Note 4\n\nRoom 4 moved to floor 9.\n", encoding="utf-8")
    result = await engine.sync("notes", CopyingConnector(folder))
    assert (result.updated, result.unchanged) == (2, 38)
    assert downloaded.batches == [1, 1]  # a download is read (and its copy deleted) before the next


class CopyingConnector(FilesConnector):
    """A connector that downloads: each fetch writes a copy into the sync's work folder, and records
    which earlier copies still exist at that moment."""

    def __init__(self, folder: Path) -> None:
        super().__init__([folder], ["public"])
        self.copies: list[Path] = []
        self.left_behind: list[int] = []

    async def fetch(self, ref: DocumentRef, workdir: Path) -> Path:
        self.left_behind.append(sum(p.exists() for p in self.copies))
        copy = workdir / f"{len(self.copies)}-{ref.doc_id}"
        copy.write_bytes((await super().fetch(ref, workdir)).read_bytes())
        self.copies.append(copy)
        return copy


async def test_downloaded_copies_are_deleted_once_read(
    engine: SyncEngine, kb: Knowledge, folder: Path
) -> None:
    connector = CopyingConnector(folder)
    result = await engine.sync("wiki", connector)
    assert (result.added, result.failed) == (3, 0)
    assert connector.left_behind == [0, 0, 0]  # each copy was gone before the next download
    assert not any(p.exists() for p in connector.copies)


async def test_small_documents_are_embedded_together(
    engine: SyncEngine, kb: Knowledge, tmp_path: Path
) -> None:
    notes = {
        f"note-{n:02d}.md": f"# Note {n}\n\nNote {n} says the meeting room {n} is on floor {n % 5}.\n"
        for n in range(40)
    }
    folder = write_pages(tmp_path / "notes", notes)
    calls = kb.embedder.calls
    result = await engine.sync("notes", files(folder))
    assert (result.added, result.failed) == (40, 0) and await kb.index.count("notes") == 40
    assert kb.embedder.calls - calls < 20  # one call per document would be 40: several share a batch
    hits = await kb.hits("meeting room 17 floor 2", Principal(grants={PUBLIC}))
    assert hits[0].chunk.doc_id == "note-17.md"  # each document kept its own vector


class HeldFirstCall(HashEmbedder):
    """Holds its first call until a second call has begun: a sync that waits for one group's vectors before
    handing the embedder the next group never finishes (the held call times out)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.second = asyncio.Event()

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == 1:
            await asyncio.wait_for(self.second.wait(), 10)
        else:
            self.second.set()
        return await super().embed_passages(texts)


async def test_the_next_group_is_embedding_before_the_first_returns(
    kb: Knowledge, state: SyncState, tmp_path: Path
) -> None:
    notes = {f"note-{n:02d}.md": f"# Note {n}\n\nRoom {n} is on floor {n % 5}.\n" for n in range(40)}
    folder = write_pages(tmp_path / "notes", notes)
    embedder = HeldFirstCall()
    engine = engine_over(kb.settings, kb.index, embedder, ParsePool(workers=0), state)
    result = await engine.sync("notes", files(folder))
    assert (result.added, result.failed) == (40, 0) and await kb.index.count("notes") == 40
    assert embedder.calls >= 2
