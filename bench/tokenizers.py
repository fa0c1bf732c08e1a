"""Which CJK tokenisation serves BM25 best: jieba (search or plain cut) against character bigrams.

Runs the real `SparseEncoder` on CMRC 2018 (dev): every passage is a document, every question's gold document
is its own passage. The IDF part that Qdrant's modifier adds in production is computed here in numpy, with
Qdrant's formula ln(1 + (N - df + 0.5) / (df + 0.5)). Prints passage recall@5, MRR@10 and tokenising speed.

    .venv/bin/python -m bench.tokenizers [--data PATH] [--max-questions N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.common import shared_data
from knowledge.sparse import SparseEncoder, Tokenizer

DATA = shared_data() / "cmrc2018" / "cmrc2018_dev.json"


@dataclass
class Result:
    name: str
    recall5: float
    mrr10: float
    chars_per_s: float
    init_s: float
    avg_tokens: float
    avg_terms: float


def load(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Passages, and (question, gold passage number) pairs; reads the flat CMRC layout or SQuAD's."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict):  # SQuAD: data[].paragraphs[].context / qas[].question
        raw = [
            {"context_text": p["context"], "qas": [{"query_text": q["question"]} for q in p["qas"]]}
            for article in raw["data"]
            for p in article["paragraphs"]
        ]
    passages: list[str] = []
    questions: list[tuple[str, int]] = []
    for item in raw:
        questions.extend((qa["query_text"], len(passages)) for qa in item["qas"])
        passages.append(item["context_text"])
    return passages, questions


def evaluate(
    name: str,
    tokenizer: Tokenizer,
    passages: list[str],
    questions: list[tuple[str, int]],
    avg_len: float | None,
) -> Result:
    """Tokenise, encode, score every question against every passage; avg_len None = the corpus mean."""
    start = time.perf_counter()
    tokenizer.tokens("初始化")  # jieba loads its dictionary on first use: timed apart from the speed
    init_s = time.perf_counter() - start

    start = time.perf_counter()
    lengths = [len(tokenizer.tokens(p)) for p in passages]
    chars_per_s = sum(map(len, passages)) / (time.perf_counter() - start)
    mean_len = sum(lengths) / len(lengths)
    encoder = SparseEncoder(tokenizer, avg_len=avg_len or mean_len)

    postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
    entries = 0
    for doc, passage in enumerate(passages):
        vector = encoder.encode_passage(passage)
        entries += len(vector.indices)
        for index, weight in zip(vector.indices, vector.values, strict=True):
            postings[index].append((doc, weight))
    n = len(passages)
    columns = {
        index: (
            np.array([d for d, _ in plist], dtype=np.int64),
            np.array([w for _, w in plist]) * np.log(1.0 + (n - len(plist) + 0.5) / (len(plist) + 0.5)),
        )
        for index, plist in postings.items()
    }

    hits, reciprocal = 0, 0.0
    for question, gold in questions:
        scores: npt.NDArray[np.float64] = np.zeros(n)
        query = encoder.encode_query(question)
        for index, weight in zip(query.indices, query.values, strict=True):
            if index in columns:
                docs, idf_tf = columns[index]
                scores[docs] += weight * idf_tf
        # rank of gold = passages scoring strictly higher, plus ties broken against gold (pessimistic)
        rank = int((scores > scores[gold]).sum() + (scores == scores[gold]).sum())
        hits += rank <= 5
        reciprocal += 1.0 / rank if rank <= 10 else 0.0
    m = len(questions)
    return Result(name, hits / m, reciprocal / m, chars_per_s, init_s, mean_len, entries / n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-questions", type=int, default=0, help="seeded subsample; 0 = all questions")
    parser.add_argument("--avg-len", type=float, default=None, help="BM25 avg_len; default: corpus mean")
    args = parser.parse_args()

    passages, questions = load(args.data)
    total = len(questions)
    if args.max_questions and args.max_questions < total:
        questions = random.Random(0).sample(questions, args.max_questions)
    print(f"CMRC 2018 dev: {len(passages)} passages, {len(questions)} of {total} questions", end="")
    print(" (seeded subsample)" if len(questions) < total else " (all)")
    avg = "corpus mean per tokenizer" if args.avg_len is None else f"{args.avg_len:g}"
    print(f"BM25 k1=1.2 b=0.75 avg_len={avg}; ties ranked against the gold passage\n")

    modes = [
        ("jieba cut_for_search", Tokenizer("jieba", jieba_search=True)),
        ("jieba cut", Tokenizer("jieba", jieba_search=False)),
        ("bigram", Tokenizer("bigram")),
    ]
    head = ("recall@5", "MRR@10", "chars/s", "init s", "tokens", "terms")
    print(f"{'tokenizer':<22}" + "".join(f"{h:>10}" for h in head))
    print(f"{'':<62}{'per passage':>20}")
    for name, tokenizer in modes:
        r = evaluate(name, tokenizer, passages, questions, args.avg_len)
        print(
            f"{r.name:<22}{r.recall5:>10.3f}{r.mrr10:>10.3f}{r.chars_per_s:>10,.0f}{r.init_s:>10.2f}"
            f"{r.avg_tokens:>10.0f}{r.avg_terms:>10.0f}"
        )


if __name__ == "__main__":
    main()
