"""The peer: what a new user builds first. bm25s over 512-token chunks with 50 tokens of overlap (tiktoken
cl100k, as Lore counts), English stemmed with Snowball and stopwords removed, Chinese segmented by jieba.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import bm25s
import jieba
import Stemmer

from bench.quality.cases import Corpus, Lang
from bench.quality.rule import DEPTH, Read
from knowledge.tokens import encoding

CHUNK_TOKENS = 512
OVERLAP_TOKENS = 50
_CJK_WORD = re.compile(r"\w")


def token_windows(text: str, size: int = CHUNK_TOKENS, overlap: int = OVERLAP_TOKENS) -> list[str]:
    """`text` cut into windows of `size` tokens, each repeating the last `overlap` of the one before."""
    tokens = encoding().encode(text)
    step = size - overlap
    starts = range(0, max(len(tokens) - overlap, 1), step)
    return [encoding().decode(tokens[i : i + size]) for i in starts]


class Bm25Peer:
    """A BM25 index over one corpus's files, chunked as a plain splitter does."""

    def __init__(self, corpus: Corpus) -> None:
        self.lang: Lang = corpus.lang
        self._stemmer: Any = Stemmer.Stemmer("english")
        logging.getLogger("jieba").setLevel(logging.WARNING)  # it logs its dictionary load
        self._jieba = jieba.Tokenizer()
        self.chunks: list[Read] = []
        for path in sorted(p for p in corpus.folder.rglob("*") if p.is_file()):
            doc_id = path.relative_to(corpus.folder).as_posix()
            text = path.read_text(encoding="utf-8")
            self.chunks += [Read(doc_id=doc_id, text=w) for w in token_windows(text)]
        self._bm25 = bm25s.BM25()
        self._bm25.index([self._tokens(c.text) for c in self.chunks], show_progress=False)

    def _tokens(self, text: str) -> list[str]:
        if self.lang == "zh":
            return [w for w in self._jieba.lcut_for_search(text.lower()) if _CJK_WORD.search(w)]
        [tokens] = bm25s.tokenize(
            [text], stopwords="en", stemmer=self._stemmer.stemWords, return_ids=False, show_progress=False
        )
        return list(tokens)

    def search(self, query: str, k: int = DEPTH) -> list[Read]:
        """The best `k` chunks for `query`, best first (chunks that share no term are not results)."""
        tokens = self._tokens(query) or ["\x00"]
        docs, scores = self._bm25.retrieve([tokens], k=min(k, len(self.chunks)), show_progress=False)
        return [self.chunks[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
