"""Citation markers in answer text: find them, drop the invented ones, renumber by first use, build Citations.

Pure functions over strings and typed objects. The forms read are `[1]`, `[1, 2]`, `[1][2]`, `[1-3]`,
`[source 1]` and the full-width `【1】`/`［1］`; the form written is always `[1]` or `[1][2]`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from knowledge.answering.sentences import snippet, split_sentences
from knowledge.models import Citation, ScoredChunk

OPENERS = "[【［"
CLOSERS = "]】］"
MAX_PARTIAL_MARKER = 24  # a trailing "[..." longer than this is text, not a marker being streamed
MAX_RANGE = 10

_NUM = r"\d{1,3}(?:\s*[-–]\s*\d{1,3})?"
MARKER_RE = re.compile(
    rf"[\[【［]\s*(?:(?:sources?|来源)\s*)?({_NUM}(?:\s*[,，、;]\s*(?:(?:sources?|来源)\s*)?{_NUM})*)\s*[\]】］]",
    re.IGNORECASE,
)
_ITEM_RE = re.compile(r"(\d{1,3})(?:\s*[-–]\s*(\d{1,3}))?")


@dataclass(frozen=True)
class Marker:
    """One citation marker: where it is in the text and the source numbers it names, in order."""

    start: int
    end: int
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class Renumbered:
    """Text with only valid markers, renumbered; `order[i]` is the old number of new citation `i + 1`."""

    text: str
    order: tuple[int, ...]


def _numbers(body: str) -> tuple[int, ...]:
    out: list[int] = []
    for match in _ITEM_RE.finditer(body):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low or high - low >= MAX_RANGE:
            high = low
        out.extend(range(low, high + 1))
    return tuple(out)


def find_markers(text: str) -> list[Marker]:
    """Every citation marker in `text`, in order."""
    return [Marker(m.start(), m.end(), _numbers(m.group(1))) for m in MARKER_RE.finditer(text)]


def cited_numbers(text: str) -> list[int]:
    """The source numbers cited in `text`, each once, in order of first use."""
    return list(dict.fromkeys(n for marker in find_markers(text) for n in marker.numbers))


def _runs(text: str, markers: list[Marker]) -> list[list[Marker]]:
    """Markers grouped into runs separated by nothing but spaces (`[1] [2]` is one run)."""
    runs: list[list[Marker]] = []
    for marker in markers:
        if runs and not text[runs[-1][-1].end : marker.start].strip():
            runs[-1].append(marker)
        else:
            runs.append([marker])
    return runs


def renumber(text: str, valid: Collection[int]) -> Renumbered:
    """Drop markers naming no valid source, renumber the rest 1..m by first use, write them as `[1][2]`.

    A dropped marker takes the spaces before it along (`word [7].` becomes `word.`).
    """
    new_of: dict[int, int] = {}
    out: list[str] = []
    pos = 0
    for run in _runs(text, find_markers(text)):
        start, end = run[0].start, run[-1].end
        kept = [n for n in dict.fromkeys(n for marker in run for n in marker.numbers) if n in valid]
        before = text[pos:start]
        if kept:
            for n in kept:
                new_of.setdefault(n, len(new_of) + 1)
            out.append(before + "".join(f"[{new_of[n]}]" for n in kept))
        else:
            trimmed = before.rstrip(" \t")
            out.append(trimmed)
            if not trimmed or trimmed.endswith("\n"):  # the marker opened a line: drop the space after it
                while end < len(text) and text[end] in " \t":
                    end += 1
        pos = end
    out.append(text[pos:])
    return Renumbered("".join(out), tuple(new_of))


def partial_marker_start(text: str) -> int | None:
    """Where a trailing, still-open `[…` that may become a marker starts, if `text` ends with one."""
    opener = max(text.rfind(c) for c in OPENERS)
    if opener < 0 or any(c in text[opener:] for c in CLOSERS) or "\n" in text[opener:]:
        return None
    return opener if len(text) - opener <= MAX_PARTIAL_MARKER else None


def claims(text: str) -> dict[int, str]:
    """For each number cited in `text`, the sentences it is attached to (the text just before its markers)."""
    found: dict[int, list[str]] = {}
    markers = find_markers(text)
    prev_end = 0
    last_claim = ""
    for marker in markers:
        sentences = split_sentences(text[prev_end : marker.start])
        last_claim = sentences[-1] if sentences else last_claim  # `[1][2]`: both back the same sentence
        for n in marker.numbers:
            found.setdefault(n, [])
            if last_claim and last_claim not in found[n]:
                found[n].append(last_claim)
        prev_end = marker.end
    return {n: " ".join(parts) for n, parts in found.items()}


def citation(n: int, hit: ScoredChunk, around: str | None = None) -> Citation:
    """Citation number `n` of `hit`, its snippet cut around the sentence closest to `around`."""
    chunk = hit.chunk
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        source=chunk.source_id,
        title=chunk.title,
        url=chunk.url,
        snippet=snippet(hit.text, around),
        score=hit.score,
        updated_at=chunk.updated_at,
    )


def build_citations(text: str, hits: Sequence[ScoredChunk]) -> list[Citation]:
    """Citations of a renumbered answer `text` whose `[n]` names `hits[n - 1]`, in order of first use."""
    supported = claims(text)
    return [citation(n, hits[n - 1], supported.get(n)) for n in cited_numbers(text) if 0 < n <= len(hits)]
