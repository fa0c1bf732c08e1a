"""The windows' speed benchmark on a tiny index: it measures what it says (a smoke, not a figure)."""

from pathlib import Path

from bench import window_speed
from knowledge.index.edge import EdgeIndex
from knowledge.windows.passage import join


async def test_window_speed_measures_every_row_on_a_reused_index(tmp_path: Path) -> None:
    measured = await window_speed.measure(tmp_path, chunks=1000, questions=3)
    assert [row.name for row in measured.rows][:3] == [
        "no windows",
        "adjacent hits joined (0 tokens)",
        "windows of 512 tokens (default)",
    ]
    assert all(row.ms > 0 for row in measured.rows) and measured.rows[0].ratio == 1.0
    assert measured.ids_asked > measured.hits_windowed > 0
    report = window_speed.report(measured, "the command")
    assert "`the command`" in report and "| windows of 512 tokens (default) |" in report
    index = EdgeIndex(tmp_path / "windows-index" / "index", 384)
    assert await index.count() == 1000  # built once, then reused
    await window_speed.build(index, 1000)
    assert await index.count() == 1000
    await index.close()


def test_synthetic_documents_overlap_like_the_chunker() -> None:
    import random

    rng = random.Random(1)
    chunks = window_speed._document(rng, window_speed._vocabulary(rng), "d.md", ["public"])
    words = join(chunks).text.split()
    parts = window_speed.PER_DOC // window_speed.PART
    headings = 2 * (parts - 1)  # "Part 1", "Part 2", ... where a new part starts
    assert len(words) == window_speed.PER_DOC * window_speed.WORDS_PER_CHUNK + headings  # overlap read once
