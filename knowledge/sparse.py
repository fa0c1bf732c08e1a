"""Sparse BM25-style vectors: CJK-aware tokens, hashed to stable indices.

A passage vector holds BM25's term-frequency part per term; the IDF part is applied by Qdrant's IDF modifier
on the sparse vector config, so a query vector (one entry per unique term, weight 1.0) dotted with it gives
BM25. Chinese and Japanese runs are segmented with jieba or as character bigrams; other words are lower-cased,
stemmed (Snowball English) and stripped of English stopwords. With `pair_weight`, each pair of neighbouring
non-CJK terms is a term too (not counted in a passage's length), weighted `pair_weight` in a query.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise
from typing import Any, Literal

import Stemmer

from knowledge.models import SparseVector

CjkMode = Literal["jieba", "bigram"]

INDEX_MASK = 0x7FFFFFFF  # indices are 31-bit so every Qdrant client and language reads them as non-negative

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
"""
ENGLISH_STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
CJK_CHARS = _HAN + _KANA  # a regex character-class body: Han and kana
# A CJK run, a number with decimal or thousands separators, or a word of other letters and digits.
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_HAN}{_KANA}]+)|(?P<num>\d+(?:[.,]\d+)+)|(?P<word>[^\W_{_HAN}{_KANA}]+)")
_HAN_RE = re.compile(f"[{_HAN}]")
_CJK_RE = re.compile(f"[{_HAN}{_KANA}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_LETTER_RE = re.compile(rf"[^\W\d_{_HAN}{_KANA}]")


@lru_cache(maxsize=200_000)
def term_index(term: str) -> int:
    """The stable 31-bit index of a term: the first 4 bytes of its blake2b digest."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") & INDEX_MASK


def detect_lang(text: str) -> str:
    """'ja' when kana is present in earnest, 'zh' when Han characters dominate the letters, else 'en'."""
    han = len(_HAN_RE.findall(text))
    kana = len(_KANA_RE.findall(text))
    if kana and kana * 10 >= han + kana:
        return "ja"
    letters = len(_LETTER_RE.findall(text))
    # One Han character carries about as much as three or four Latin letters, hence the low share.
    if han and han >= 0.3 * (han + letters):
        return "zh"
    return "en"


class Tokenizer:
    """Lower-cased, stemmed, stopword-free tokens; CJK runs segmented by jieba or as character bigrams."""

    def __init__(self, cjk: CjkMode = "jieba", *, jieba_search: bool = True) -> None:
        if cjk not in ("jieba", "bigram"):
            raise ValueError(f"cjk must be 'jieba' or 'bigram', not {cjk!r}")
        self.cjk: CjkMode = cjk
        self.jieba_search = jieba_search  # cut_for_search adds the dictionary words inside long words
        self._jieba: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()  # a Stemmer keeps state: one per thread

    def tokens(self, text: str) -> list[str]:
        """The terms of `text` in order, duplicates kept."""
        out: list[str] = []
        for match in _TOKEN_RE.finditer(text.lower()):
            kind, value = match.lastgroup, match.group()
            if kind == "cjk":
                out.extend(self._segment(value))
            elif kind == "num":
                out.append(value)
            elif value not in ENGLISH_STOPWORDS:
                out.append(self._stemmer().stemWord(value))
        return out

    def _stemmer(self) -> Any:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("english")
        return stemmer

    def _segment(self, run: str) -> list[str]:
        if self.cjk == "bigram":
            return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        seg = self._segmenter()
        words = seg.cut_for_search(run, HMM=True) if self.jieba_search else seg.cut(run, HMM=True)
        return [w for w in words if w.strip()]

    def _segmenter(self) -> Any:
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba  # 0.3 s to import: only when a jieba tokenizer meets CJK text

                    logging.getLogger("jieba").setLevel(logging.WARNING)  # it logs its dictionary load
                    seg = jieba.Tokenizer()
                    seg.initialize()
                    self._jieba = seg
        return self._jieba


class SparseEncoder:
    """BM25 term-frequency weights for passages and unit weights for queries, over hashed terms."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        k1: float = 1.2,
        b: float = 0.75,
        avg_len: float = 256.0,
        heading_weight: float = 1.0,
        pair_weight: float = 0.0,
    ) -> None:
        self.tokenizer = tokenizer
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self.heading_weight = heading_weight
        self.pair_weight = pair_weight

    def _terms(self, text: str) -> tuple[list[str], list[str]]:
        """The terms of `text` and, when pairs count, the pairs of neighbouring non-CJK terms."""
        terms = self.tokenizer.tokens(text)
        if not self.pair_weight:
            return terms, []
        # Chinese and Japanese words are phrases already (jieba's words, or character bigrams)
        return terms, [f"{a}\x1f{b}" for a, b in pairwise(terms) if not _CJK_RE.search(a + b)]

    def encode_passage(self, text: str) -> SparseVector:
        """tf*(k1+1) / (tf + k1*(1-b+b*len/avg_len)) per term; Qdrant's IDF modifier supplies the rest."""
        terms, pairs = self._terms(text)
        return self._bm25(dict(Counter(terms)), dict(Counter(pairs)))

    def encode_fields(self, heading: str, body: str) -> SparseVector:
        """A passage of two fields, BM25F-style: a term of the heading (title and heading path) counts
        `heading_weight` times as much as one of the body, in its frequency and in the passage's length."""
        terms, pairs = self._terms(body)
        counts: dict[str, float] = dict(Counter(terms))
        pair_counts: dict[str, float] = dict(Counter(pairs))
        head_terms, head_pairs = self._terms(heading)
        for term in head_terms:
            counts[term] = counts.get(term, 0.0) + self.heading_weight
        for pair in head_pairs:
            pair_counts[pair] = pair_counts.get(pair, 0.0) + self.heading_weight
        return self._bm25(counts, pair_counts)

    def _bm25(self, counts: dict[str, float], pairs: dict[str, float] | None = None) -> SparseVector:
        length = sum(counts.values())  # pairs do not lengthen a passage
        norm = self.k1 * (1.0 - self.b + self.b * length / self.avg_len)
        every = {**counts, **(pairs or {})}
        return _to_vector((term, tf * (self.k1 + 1.0) / (tf + norm)) for term, tf in every.items())

    def encode_query(self, text: str) -> SparseVector:
        """One entry of weight 1.0 per unique term, and of `pair_weight` per unique pair of neighbours."""
        terms, pairs = self._terms(text)
        return _to_vector(
            [(term, 1.0) for term in dict.fromkeys(terms)]
            + [(pair, self.pair_weight) for pair in dict.fromkeys(pairs)]
        )


def _to_vector(weights: Iterable[tuple[str, float]]) -> SparseVector:
    """Hash terms to indices, summing the weights of colliding terms, indices ascending."""
    merged: dict[int, float] = {}
    for term, weight in weights:
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + weight
    indices = sorted(merged)
    return SparseVector(indices=indices, values=[merged[i] for i in indices])
