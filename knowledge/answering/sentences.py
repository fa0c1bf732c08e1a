"""Sentences of English and Chinese text, and short snippets cut around the sentence that matters."""

from __future__ import annotations

import re

SNIPPET_CHARS = 300
ELLIPSIS = "…"

# A sentence ends after . ! ? (followed by a space) or after 。！？ (no space needed), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？])[”’」』）]*\s*|\s*\n\s*")
_BULLET = re.compile(r"^(?:[-*•+]\s+|\d{1,2}[.)]\s+|>\s*)")
_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` in order, whitespace collapsed, list bullets stripped, empty ones dropped."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        sentence = _BULLET.sub("", _SPACES.sub(" ", part).strip())
        if sentence:
            out.append(sentence)
    return out


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, in the original string."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def terms(text: str) -> set[str]:
    """Crude, dependency-free terms for matching a snippet to a hint: lower-cased words and CJK bigrams."""
    found: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if _CJK.search(word):
            found.update(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        elif len(word) > 2 or word.isdigit():
            found.add(word)
    return found


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + ELLIPSIS


def snippet(text: str, around: str | None = None, limit: int = SNIPPET_CHARS) -> str:
    """At most `limit` characters of `text`, centred on the sentence sharing most terms with `around`.

    Neighbouring sentences are added while they fit; an ellipsis marks text left out at either end.
    """
    spans = _spans(text)
    if not spans:
        return ""
    best = 0
    if around:
        wanted = terms(around)
        scores = [len(wanted & terms(text[s:e])) for s, e in spans]
        best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    first = last = best
    budget = limit - 2  # room for the ellipses
    while True:
        grown = False
        for cand_first, cand_last in ((first, last + 1), (first - 1, last)):
            if cand_first >= 0 and cand_last < len(spans):
                length = spans[cand_last][1] - spans[cand_first][0]
                if length <= budget:
                    first, last, grown = cand_first, cand_last, True
                    break
        if not grown:
            break
    body = _SPACES.sub(" ", re.sub(r"\s*\n\s*", " ", text[spans[first][0] : spans[last][1]])).strip()
    body = _shorten(body, budget)
    prefix = ELLIPSIS if first > 0 else ""
    suffix = ELLIPSIS if last < len(spans) - 1 and not body.endswith(ELLIPSIS) else ""
    return f"{prefix}{body}{suffix}"
