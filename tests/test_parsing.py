"""Parsing: every supported format into titled, heading-aware sections, offline; bad input as ParseError."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingestion.parsing import ParsedDocument, ParseError, parse_file, readable_stem

MAX = 25_000_000
ROOT = Path(__file__).resolve().parent.parent

MD = """# Handbook

Intro paragraph.

## Travel

Book trains early.

### Expenses

Keep receipts. Submit within 30 days.

## Leave

Twenty five days.

| item | days |
|------|------|
| leave | 25 |
"""

ZH_MD = "# 员工手册\n\n## 报销\n\n请保留发票。三十天内提交！可以吗？\n"

HTML = (
    "<html><body><h1>Policies</h1><p>Hello world.</p><h2>Security</h2><p>Use 2FA.</p>"
    "<h3>Laptops</h3><p>Encrypt disks.</p>"
    "<table><tr><th>device</th><th>owner</th></tr><tr><td>laptop</td><td>IT</td></tr></table>"
    "</body></html>"
)


def write_docx(path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_heading("Guide", 0)
    doc.add_heading("Setup", 1)
    doc.add_paragraph("Install things.")
    doc.add_heading("Details", 2)
    doc.add_paragraph("More text here.")
    doc.add_heading("Other", 1)
    doc.add_paragraph("Bye.")
    doc.save(str(path))


def write_pptx(path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Roadmap", "Ship v2 in Q3."), ("Risks", "Hiring is slow.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))


def write_xlsx(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Staff"
    for row in [("name", "team", "phone"), ("Alice", "Finance", 123), ("Bob", "IT", 456)]:
        sheet.append(row)
    book.create_sheet("Budget").append(("item", "cost"))
    book.save(path)


def write_pdf(path: Path, *, text: bool = True) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if text:
        pdf.setFont("Helvetica-Bold", 18)
        pdf.drawString(72, 750, "Security Policy")
        pdf.setFont("Helvetica", 11)
        pdf.drawString(72, 720, "All laptops must be encrypted. Report incidents quickly.")
    else:  # a "scan": shapes only, no text layer
        pdf.rect(72, 400, 300, 300, fill=1)
        pdf.circle(200, 200, 50)
    pdf.showPage()
    pdf.save()


WRITERS: dict[str, Callable[[Path], None]] = {
    "handbook.md": lambda p: p.write_text(MD),
    "zh.md": lambda p: p.write_text(ZH_MD),
    "policies.html": lambda p: p.write_text(HTML),
    "notes.txt": lambda p: p.write_text("Plain text file.\n\nSecond paragraph here.\n"),
    "staff.csv": lambda p: p.write_text("name,team,phone\nAlice,Finance,123\nBob,IT,456\n"),
    "guide.docx": write_docx,
    "deck.pptx": write_pptx,
    "staff_list.xlsx": write_xlsx,
    "policy.pdf": write_pdf,
    "scan.pdf": lambda p: write_pdf(p, text=False),
}


@pytest.fixture(scope="module")
def net_attempts() -> Iterator[list[object]]:
    """Every socket connection attempt during this module raises and is recorded."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network blocked by test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)  # telemetry fails at name lookup, before connect
        yield attempts


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, net_attempts: list[object]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("docs")
    for name, write in WRITERS.items():
        write(folder / name)
    return {name: folder / name for name in WRITERS}


@pytest.fixture(scope="module")
def parsed(files: dict[str, Path]) -> dict[str, ParsedDocument]:
    return {name: parse_file(path, max_bytes=MAX) for name, path in files.items() if name != "scan.pdf"}


@pytest.mark.parametrize(
    ("name", "title", "path", "snippet"),
    [
        ("handbook.md", "Handbook", ["Handbook", "Travel", "Expenses"], "Keep receipts."),
        ("handbook.md", "Handbook", ["Handbook", "Leave"], "item: leave; days: 25"),
        ("zh.md", "员工手册", ["员工手册", "报销"], "请保留发票。"),
        ("policies.html", "Policies", ["Policies", "Security", "Laptops"], "Encrypt disks."),
        ("policies.html", "Policies", ["Policies", "Security", "Laptops"], "device: laptop; owner: IT"),
        ("notes.txt", "Notes", [], "Second paragraph here."),
        ("staff.csv", "Staff", [], "name: Bob; team: IT; phone: 456"),
        ("guide.docx", "Guide", ["Setup", "Details"], "More text here."),
        ("guide.docx", "Guide", ["Other"], "Bye."),
        ("deck.pptx", "Roadmap", ["Risks"], "Hiring is slow."),
        ("staff_list.xlsx", "Staff list", ["Staff"], "name: Alice; team: Finance; phone: 123"),
        ("policy.pdf", "Security Policy", ["Security Policy"], "All laptops must be encrypted."),
    ],
)
def test_sections_and_headings(
    parsed: dict[str, ParsedDocument], name: str, title: str, path: list[str], snippet: str
) -> None:
    doc = parsed[name]
    assert doc.title == title
    assert any(s.heading_path == path and snippet in s.text for s in doc.sections)


def test_markdown_heading_paths_in_order(parsed: dict[str, ParsedDocument]) -> None:
    paths = [s.heading_path for s in parsed["handbook.md"].sections]
    assert paths == [
        ["Handbook"],
        ["Handbook", "Travel"],
        ["Handbook", "Travel", "Expenses"],
        ["Handbook", "Leave"],
    ]


def test_pptx_one_section_per_slide(parsed: dict[str, ParsedDocument]) -> None:
    sections = parsed["deck.pptx"].sections
    assert [(s.heading_path, s.text) for s in sections] == [
        (["Roadmap"], "Ship v2 in Q3."),
        (["Risks"], "Hiring is slow."),
    ]


def test_list_items_keep_a_bullet(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\nSteps:\n\n- Open the form\n- Sign it\n\n1. First\n2. Second\n\nDone.\n")
    html = tmp_path / "page.html"
    html.write_text("<h1>Page</h1><p>Steps:</p><ul><li>Open the form</li><li>Sign it</li></ul><p>Done.</p>")
    for path in (page, html):
        text = parse_file(path, max_bytes=MAX).sections[0].text
        assert "Steps:\n\n- Open the form\n\n- Sign it" in text and text.endswith("Done.")
    assert "- First\n\n- Second" in parse_file(page, max_bytes=MAX).sections[0].text


KINDS_MD = """# Office guide

The office opens at eight and closes at six on weekdays.

IMPORTANT NOTICE FOR ALL VISITORS

2026

x

Write to facilities@example.com for keys.

- Badge at the door
- Sign the visitor book

## Contact

Facilities desk
"""


def test_every_kind_of_paragraph_is_body_text_without_spacy(tmp_path: Path) -> None:
    """unstructured's narrative-text test (a spaCy run per paragraph) is off; what Lore reads is as before
    (checked against the parse with the test on: narrative, capitals, numbers, e-mail; one letter dropped)."""
    page = tmp_path / "kinds.md"
    page.write_text(KINDS_MD)
    doc = parse_file(page, max_bytes=MAX)
    body = (
        "The office opens at eight and closes at six on weekdays.\n\nIMPORTANT NOTICE FOR ALL VISITORS\n\n"
        "2026\n\nWrite to facilities@example.com for keys.\n\n- Badge at the door\n\n- Sign the visitor book"
    )
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (["Office guide"], body),
        (["Office guide", "Contact"], "Facilities desk"),
    ]
    from unstructured.partition.html import parser

    assert parser.is_possible_narrative_text("The office opens at eight and closes at six.") is False


def test_no_empty_sections(parsed: dict[str, ParsedDocument]) -> None:
    assert all(s.text.strip() for doc in parsed.values() for s in doc.sections)


def _junk(n: int, *, nul: bool) -> bytes:
    data = random.Random(0).randbytes(n)
    return data if nul else data.replace(b"\x00", b"\x01")


def _truncated_pdf(path: Path) -> None:
    write_pdf(path)
    path.write_bytes(path.read_bytes()[:1000])


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)


def _zip_bomb(path: Path, megabytes: int = 30) -> None:
    """A docx-named zip whose one member is `megabytes` of zeros (it compresses about 1000 times)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", bytes(megabytes * 1_000_000))


BAD: list[tuple[str, Callable[[Path], None], str]] = [
    ("empty.md", lambda p: p.write_bytes(b""), "empty file"),
    ("blank.md", lambda p: p.write_text("  \n\n\t\n"), "no text"),
    ("junk.txt", lambda p: p.write_bytes(_junk(4000, nul=True)), "binary or unreadable content"),
    ("junk_no_nul.txt", lambda p: p.write_bytes(_junk(4000, nul=False)), "binary or unreadable content"),
    ("junk.csv", lambda p: p.write_bytes(_junk(4000, nul=True)), "binary or unreadable content"),
    ("scan.pdf", lambda p: write_pdf(p, text=False), "no text (scanned?)"),
    ("random.pdf", lambda p: p.write_bytes(_junk(3000, nul=True)), "corrupt or unreadable pdf: "),
    ("truncated.pdf", _truncated_pdf, "corrupt or unreadable pdf: "),
    ("random.docx", lambda p: p.write_bytes(_junk(3000, nul=True)), "corrupt or unreadable docx: "),
    ("random.pptx", lambda p: p.write_bytes(_junk(3000, nul=True)), "corrupt or unreadable pptx: "),
    ("random.xlsx", lambda p: p.write_bytes(_junk(3000, nul=True)), "corrupt or unreadable xlsx: "),
    ("data.xyz", lambda p: p.write_text("hello"), "unsupported file type .xyz (supported: .csv, .docx"),
    ("big.md", lambda p: _sparse(p, 50 * 1024 * 1024), "file too large (52.4 MB > 25 MB limit)"),
    ("bomb.docx", _zip_bomb, "word/document.xml expands"),
]


@pytest.mark.parametrize(("name", "write", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gives_a_reason(
    tmp_path: Path, net_attempts: list[object], name: str, write: Callable[[Path], None], reason: str
) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(ParseError) as caught:
        parse_file(path, max_bytes=MAX)
    assert caught.value.reason.startswith(reason)
    assert len(caught.value.reason) < 200


def test_an_archive_expanding_past_its_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    _zip_bomb(path, megabytes=3)  # 3 MB > 20 x the 100 kB limit of this test
    with pytest.raises(ParseError, match="archive expands to 3 MB"):
        parse_file(path, max_bytes=100_000)


def test_missing_file_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read file"):
        parse_file(tmp_path / "gone.md", max_bytes=MAX)


def test_legacy_encoding_text(tmp_path: Path) -> None:
    path = tmp_path / "menu.txt"
    path.write_bytes("Café crème, naïve façade.".encode("cp1252"))
    doc = parse_file(path, max_bytes=MAX)
    assert "Café crème" in doc.sections[0].text


@pytest.mark.parametrize(
    ("name", "title"),
    [("travel_expense-policy.md", "Travel expense policy"), ("README.md", "README"), ("a.b.txt", "A b")],
)
def test_readable_stem(name: str, title: str) -> None:
    assert readable_stem(Path(name)) == title


def test_nothing_tried_the_network(parsed: dict[str, ParsedDocument], net_attempts: list[object]) -> None:
    assert net_attempts == []


OPT_OUT = {"DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "UNSTRUCTURED_DISABLE_NOTICE"}
COLD_SCRIPT = """
import json, socket, sys, time
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args))
    raise OSError("network blocked")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pathlib import Path
from ingestion.parsing import parse_file
times, titles = {}, {}
for name in sys.argv[1:]:
    start = time.perf_counter()
    titles[name] = parse_file(Path(name), max_bytes=10**7).title
    times[name] = time.perf_counter() - start
print(json.dumps({"attempts": attempts, "titles": titles, "times": times}))
"""


@pytest.mark.slow
def test_cold_start_offline(files: dict[str, Path]) -> None:
    """A fresh process (spaCy not loaded, no opt-out in its environment) parses md, html, docx and pptx
    with every name lookup and connection refused."""
    env = {k: v for k, v in os.environ.items() if k not in OPT_OUT}
    names = ["handbook.md", "policies.html", "guide.docx", "deck.pptx"]
    run = subprocess.run(
        [sys.executable, "-c", COLD_SCRIPT, *[str(files[n]) for n in names]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert list(report["titles"].values()) == ["Handbook", "Policies", "Guide", "Roadmap"]
