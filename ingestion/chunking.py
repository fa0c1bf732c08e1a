"""Sections into token-sized drafts, heading-aware.

A draft never mixes two sections unless they are small: consecutive small sections that are siblings (or
parent and child) are merged up to `size` tokens under their deepest common heading path, and the headings
they lose from the path are kept in the text. Long sections are split at paragraphs, then lines, then
sentences (English and Chinese punctuation), then tokens; consecutive pieces of one section repeat
`overlap` tokens. Deterministic; no empty drafts; every word of every section lands in some draft.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from ingestion.parsing import ParsedDocument
from knowledge.tokens import count_tokens, encoding

# Split levels, coarse to fine; a match ends the part before it and stays with it.
_LEVELS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n\s*"),  # lines (table rows, list items)
    re.compile(r"[.!?;]+[\"'”’)\]]*\s+|[。！？；]+[”’」』）]*\s*"),  # sentences
)
_WORD_START = re.compile(r"\s+")


class Draft(BaseModel):
    """One chunk's text and heading path, before embedding."""

    heading_path: list[str]
    text: str


class _Group(BaseModel):
    members: list[tuple[list[str], str]]

    @property
    def path(self) -> list[str]:
        return _common([p for p, _ in self.members])

    def render(self) -> str:
        common = self.path
        parts: list[str] = []
        previous: list[str] = []
        for path, text in self.members:
            relative = path[len(common) :]
            parts.extend(relative[len(_common([previous, relative])) :])
            parts.append(text)
            previous = relative
        return "\n\n".join(parts)


def chunk_sections(doc: ParsedDocument, *, size: int, overlap: int) -> list[Draft]:
    """Cut `doc` into drafts of at most `size` tokens, `overlap` tokens shared by neighbouring pieces."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size} overlap={overlap}")
    drafts: list[Draft] = []
    for group in _merge_small(doc, size):
        path, text = group.path, group.render()
        drafts.extend(Draft(heading_path=path, text=piece) for piece in split_text(text, size, overlap))
    return drafts


def _merge_small(doc: ParsedDocument, size: int) -> list[_Group]:
    groups: list[_Group] = []
    for section in doc.sections:
        text = section.text.strip()
        if not text:
            continue
        member = (list(section.heading_path), text)
        last = groups[-1] if groups else None
        if last is not None and _related(last.path, member[0]):
            candidate = _Group(members=[*last.members, member])
            if count_tokens(candidate.render()) <= size:
                groups[-1] = candidate
                continue
        groups.append(_Group(members=[member]))
    return groups


def _related(a: list[str], b: list[str]) -> bool:
    """Same section, siblings, or parent and child: the paths differ at most in their last heading."""
    shared = len(_common([a, b]))
    return shared >= len(a) - 1 and shared >= len(b) - 1


def _common(paths: list[list[str]]) -> list[str]:
    first = paths[0]
    n = 0
    while n < len(first) and all(len(p) > n and p[n] == first[n] for p in paths):
        n += 1
    return first[:n]


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """`text` in pieces of at most `size` tokens; each piece after the first starts with the last
    `overlap` tokens of the one before."""
    text = text.strip()
    if not text:
        return []
    if count_tokens(text) <= size:
        return [text]
    segments = _segments(text, size - overlap, 0)
    pieces: list[str] = []
    body = ""
    for segment in segments:
        if body and count_tokens(_tail(pieces, overlap) + body + segment) > size:
            pieces.append(_join(_tail(pieces, overlap), body, size))
            body = ""
        body += segment
    if body.strip():
        pieces.append(_join(_tail(pieces, overlap), body, size))
    return [p for p in pieces if p]


def _join(tail: str, body: str, size: int) -> str:
    """`tail + body` within `size`, shortening the tail (never the body) if re-tokenising grew it."""
    enc = encoding()
    ids = enc.encode(tail, disallowed_special=())
    while ids and count_tokens(tail + body) > size:
        ids = ids[1:]
        tail = enc.decode(ids).lstrip("\ufffd")
    return (tail + body).strip() if ids else body.strip()


def _tail(pieces: list[str], overlap: int) -> str:
    if not pieces or overlap == 0:
        return ""
    previous = pieces[-1]
    ids = encoding().encode(previous, disallowed_special=())[-overlap:]
    tail = encoding().decode(ids).lstrip("\ufffd")
    cut = _WORD_START.search(tail)
    if cut and not previous[: len(previous) - len(tail)][-1:].isspace() and tail[cut.end() :].strip():
        tail = tail[cut.end() :]  # start at a word, not inside one (text without spaces keeps its cut)
    sentence = _LEVELS[2].search(tail)
    if sentence and sentence.end() <= len(tail) // 2 and tail[sentence.end() :].strip():
        tail = tail[sentence.end() :]  # rather a whole sentence than the last word of one
    spaced = tail[-1:].isascii() and not tail[-1:].isspace()  # Chinese runs on without a space
    return tail + " " if spaced else tail


def _segments(text: str, limit: int, level: int) -> list[str]:
    """Parts of `text` (separators kept) of at most `limit` tokens, cut at the coarsest level that fits."""
    if count_tokens(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return _token_windows(text, limit)
    parts = _cut(text, _LEVELS[level])
    if len(parts) == 1:
        return _segments(text, limit, level + 1)
    return [seg for part in parts for seg in _segments(part, limit, level + 1)]


def _cut(text: str, pattern: re.Pattern[str]) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.end() > start:
            parts.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        parts.append(text[start:])
    return parts


def _token_windows(text: str, limit: int) -> list[str]:
    """Cut at token boundaries, on character offsets so that no character is split in two."""
    enc = encoding()
    ids = enc.encode(text, disallowed_special=())
    _, offsets = enc.decode_with_offsets(ids)
    bounds = [*offsets, len(text)]
    windows: list[str] = []
    first = 0
    while first < len(ids):
        last = min(first + limit, len(ids))
        while last > first + 1 and (
            bounds[last] <= bounds[first] or count_tokens(text[bounds[first] : bounds[last]]) > limit
        ):
            last -= 1
        while last < len(ids) and bounds[last] <= bounds[first]:
            last += 1  # a character made of several tokens: take all of them
        windows.append(text[bounds[first] : bounds[last]])
        first = last
    return windows
