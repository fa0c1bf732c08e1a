"""What a question names (quoted phrases, capitalised words inside it, numbers and codes): a source that
answers the question mentions them. When none of the retrieved text mentions one, the sources are about
something near the question, not about it ("the time zone for Nairobi" on a page that never says Nairobi).
A name counts as mentioned in another form of the word ("Japan" by "Japanese", "Canada" by "Canadian"):
a term of the text that shares all but the name's last letter, and at least `MIN_SHARED_PREFIX` letters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.answering.quoting.terms import content_terms
from knowledge.sparse import CJK_CHARS, Tokenizer

_QUOTED = re.compile(r"(?<![\w'’])(['\"`“‘])([^'\"`”’\n]{2,60})['\"`”’](?![\w])")
_NAME = re.compile(r"(?<![\w'’\-])([A-Z][\w\-@.]*[\w]|[\w\-]*\d[\w\-]*|[a-z][\w\-]+(?:\.[a-z][\w\-]+)+)")
_SENTENCE_START = re.compile(r"(?:^|[.!?。！？:;]\s*|\n)\s*$")
MIN_SHARED_PREFIX = 4
_CJK = re.compile(f"[{CJK_CHARS}]")
_SPACE = re.compile(r"\s+")


def quoted(question: str) -> list[str]:
    """The quoted phrases of `question` ('Speedy meetings', "Find a Time")."""
    return [m.group(2).strip() for m in _QUOTED.finditer(question)]


def named(question: str) -> list[str]:
    """The quoted phrases of `question`, then its capitalised words (not opening a sentence) and numbers."""
    names = quoted(question)
    rest = _QUOTED.sub(" ", question)
    for match in _NAME.finditer(rest):
        if not _SENTENCE_START.search(rest[: match.start()]):
            names.append(match.group(1))
    return names


def unmentioned(
    question: str, texts: Iterable[str], tokenizer: Tokenizer, names: Iterable[str] | None = None
) -> list[str]:
    """The names of `question` (or `names`) whose terms do not all occur in `texts`."""
    known: set[str] = set()
    for text in texts:
        known.update(content_terms(tokenizer, text))
    missing = []
    for name in named(question) if names is None else names:
        terms = content_terms(tokenizer, name)
        if terms and not all(mentioned(term, known) for term in terms):
            missing.append(name)
    return missing


def mentioned(term: str, known: set[str]) -> bool:
    """True when `term`, or another form of its word (same stem but for the last letter), is in `known`."""
    if term in known:
        return True
    shared = max(MIN_SHARED_PREFIX, len(term) - 1)
    if len(term) < shared or not term.isalpha():
        return False
    stem = term[:shared]
    return any(k.startswith(stem) for k in known)


def said(phrase: str, texts: Iterable[str], tokenizer: Tokenizer) -> bool:
    """True when one of `texts` says `phrase` as a phrase: its terms in a row, in its order (stopwords
    aside, stemmed: 'Find a Time' is said by "find a time", not by "find another convenient time"). A
    phrase with Chinese or Japanese in it is looked for as written (spaces aside): jieba may cut it
    differently alone than inside a sentence."""
    if _CJK.search(phrase):
        compact = _SPACE.sub("", phrase).lower()
        return any(compact in _SPACE.sub("", text).lower() for text in texts)
    wanted = tokenizer.tokens(phrase)
    if not wanted:
        return True
    n = len(wanted)
    for text in texts:
        terms = tokenizer.tokens(text)
        if any(terms[i : i + n] == wanted for i in range(len(terms) - n + 1)):
            return True
    return False
