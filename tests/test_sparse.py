"""Sparse vectors: tokens, stable indices, BM25 weights, language detection."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import get_args

import pytest

from knowledge.sparse import CjkMode, SparseEncoder, Tokenizer, detect_lang, term_index

ROOT = Path(__file__).resolve().parents[1]
MODES = get_args(CjkMode)
ZH = "公司的差旅报销政策规定，员工出差住宿费用按城市标准报销。"


@pytest.fixture(scope="module", params=MODES)
def tokenizer(request: pytest.FixtureRequest) -> Tokenizer:
    return Tokenizer(request.param)


@pytest.fixture(scope="module")
def jieba() -> Tokenizer:
    return Tokenizer("jieba")


@pytest.fixture(scope="module")
def encoder() -> SparseEncoder:
    return SparseEncoder(Tokenizer("bigram"))


def test_stemming_joins_inflections(tokenizer: Tokenizer) -> None:
    assert tokenizer.tokens("policies") == tokenizer.tokens("Policy")
    assert tokenizer.tokens("travelling") == tokenizer.tokens("travel")


def test_stopwords_dropped_and_numbers_kept(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokens("The limit is 3.5 percent of the 2024 budget")
    assert "the" not in tokens and "is" not in tokens and "of" not in tokens
    assert {"limit", "3.5", "2024", "budget"} <= set(tokens)


def test_chinese_yields_words(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokens(ZH)
    assert {"报销", "政策", "出差", "住宿"} <= set(tokens)
    assert "，" not in tokens and "。" not in tokens


def test_jieba_segments_words_not_bigrams(jieba: Tokenizer) -> None:
    assert "旅报" in Tokenizer("bigram").tokens("差旅报销")
    assert jieba.tokens("差旅报销") == ["差旅", "报销"]


def test_bigram_keeps_single_character_runs() -> None:
    assert Tokenizer("bigram").tokens("猫 cat 狗") == ["猫", "cat", "狗"]


def test_mixed_chinese_and_english(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokens("如何配置VPN？See the VPN policies.")
    assert {"配置", "vpn", "polici"} <= set(tokens)
    assert tokens.count("vpn") == 2
    assert "see" in tokens and "the" not in tokens


def test_indices_deterministic_across_instances() -> None:
    text = "Expense policies 差旅报销政策 2024"
    first = SparseEncoder(Tokenizer("jieba")).encode_passage(text)
    second = SparseEncoder(Tokenizer("jieba")).encode_passage(text)
    assert first == second
    # pinned: indices are stored in Qdrant, so they must never change between processes or versions
    assert term_index("polici") == 280988295
    assert term_index("报销") == 2082971544


def test_indices_unique_sorted_31_bit(tokenizer: Tokenizer) -> None:
    encoder = SparseEncoder(tokenizer)
    for vector in (encoder.encode_passage(ZH * 3 + " policy policies"), encoder.encode_query(ZH + ZH)):
        assert vector.indices == sorted(set(vector.indices))
        assert len(vector.values) == len(vector.indices)
        assert all(0 <= i < 2**31 for i in vector.indices)


def test_colliding_terms_are_merged(encoder: SparseEncoder) -> None:
    assert term_index("t10216") == term_index("t135361")  # a known 31-bit collision
    passage = encoder.encode_passage("t10216 t135361")
    alone = encoder.encode_passage("t10216 alpha")
    assert len(passage.indices) == 1
    assert passage.values[0] == pytest.approx(2 * alone.values[alone.indices.index(term_index("t10216"))])


def test_query_weights_are_one_per_unique_term(encoder: SparseEncoder) -> None:
    query = encoder.encode_query("policy policies travel travel")
    assert query.indices == sorted([term_index("polici"), term_index("travel")])
    assert query.values == [1.0, 1.0]


def _weight(encoder: SparseEncoder, text: str, term: str) -> float:
    vector = encoder.encode_passage(text)
    return vector.values[vector.indices.index(term_index(term))]


def test_term_frequency_saturates(encoder: SparseEncoder) -> None:
    fillers = " ".join(f"filler{i}" for i in range(9))
    once = _weight(encoder, f"alpha {fillers}", "alpha")
    ten = _weight(encoder, " ".join(["alpha"] * 10), "alpha")  # same length: 10 tokens
    assert once < ten < 1.5 * once
    assert ten < encoder.k1 + 1


def test_longer_documents_weigh_less(encoder: SparseEncoder) -> None:
    short = _weight(encoder, "alpha beta", "alpha")
    long = _weight(encoder, "alpha " + " ".join(f"filler{i}" for i in range(500)), "alpha")
    assert long < short


@pytest.mark.parametrize("text", ["", "   ", "the of and", "，。！？"])
def test_empty_input_gives_empty_vector(encoder: SparseEncoder, text: str) -> None:
    for vector in (encoder.encode_passage(text), encoder.encode_query(text)):
        assert vector.indices == [] and vector.values == []


def test_jieba_is_lazy_and_loaded_once() -> None:
    tokenizer = Tokenizer("jieba")
    tokenizer.tokens("English only")
    assert tokenizer._jieba is None
    tokenizer.tokens(ZH)
    loaded = tokenizer._jieba
    tokenizer.tokens(ZH)
    assert loaded is not None and tokenizer._jieba is loaded


def test_jieba_is_quiet() -> None:
    # a fresh process: jieba binds its log handler to stderr at import, which pytest's capture would hide
    code = "from knowledge.sparse import Tokenizer; print(Tokenizer('jieba').tokens('差旅报销'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "报销" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("mode", MODES)
def test_thread_safe(mode: CjkMode, jieba: Tokenizer) -> None:
    texts = [f"{ZH} policies running {i}" for i in range(40)]
    expected = [Tokenizer("bigram").tokens(t) if mode == "bigram" else jieba.tokens(t) for t in texts]
    shared = Tokenizer(mode)
    results: dict[int, list[str]] = {}
    start = threading.Barrier(4)

    def run(worker: int) -> None:
        start.wait(timeout=10)  # all four race the first (jieba-initialising) call
        for i in range(worker, len(texts), 4):
            results[i] = shared.tokens(texts[i])

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [results.get(i) for i in range(len(texts))] == expected


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="cjk"):
        Tokenizer("whitespace")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do I file travel expenses?", "en"),
        (ZH, "zh"),
        ("如何配置VPN", "zh"),
        ("Use the 报销 form to file your travel expenses", "en"),
        ("東京で会議があります。", "ja"),
        ("カタカナ", "ja"),
        ("", "en"),
        ("12345 !!", "en"),
    ],
)
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def weights(encoder: SparseEncoder, heading: str, body: str) -> dict[str, float]:
    vector = encoder.encode_fields(heading, body)
    by_index = dict(zip(vector.indices, vector.values, strict=True))
    return {term: by_index[term_index(term)] for term in encoder.tokenizer.tokens(f"{heading} {body}")}


def test_heading_terms_weigh_more_than_body_terms_as_the_setting_says() -> None:
    plain = SparseEncoder(Tokenizer("bigram"))
    assert plain.encode_fields("Travel > Hotels", "Book early.") == plain.encode_passage(
        "Travel > Hotels\nBook early."
    )
    boosted = weights(SparseEncoder(Tokenizer("bigram"), heading_weight=3.0), "Hotels", "hotels book early")
    assert boosted["hotel"] > boosted["book"] == boosted["earli"]  # 1 + 3 counts against 1
    even = weights(plain, "Hotels", "hotels book early")
    assert boosted["hotel"] > even["hotel"] and boosted["book"] < even["book"]  # a longer passage


def test_bm25_settings_reach_the_synced_keyword_vectors(tmp_path: Path) -> None:
    from knowledge.service import keyword_encoder
    from knowledge.settings import Settings

    long_body = "alpha " + " ".join(f"filler{i}" for i in range(500))
    default = keyword_encoder(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    flat = keyword_encoder(Settings(_env_file=None, data_dir=tmp_path, bm25_b=0.0, bm25_k1=2.0))  # type: ignore[call-arg]
    assert weights(default, "", long_body)["alpha"] < weights(default, "", "alpha beta")["alpha"]
    # b = 0: a passage's length no longer lowers its terms' weight; k1 sets the weight of one occurrence
    assert weights(flat, "", long_body)["alpha"] == weights(flat, "", "alpha beta")["alpha"] == 1.0
    unpaired = keyword_encoder(Settings(_env_file=None, data_dir=tmp_path, pair_weight=0))  # type: ignore[call-arg]
    assert len(default.encode_passage("sales development").indices) == 3  # two terms and their pair
    assert len(unpaired.encode_passage("sales development").indices) == 2


def score(encoder: SparseEncoder, query: str, passage: str) -> float:
    q, p = encoder.encode_query(query), encoder.encode_passage(passage)
    by_index = dict(zip(p.indices, p.values, strict=True))
    return sum(w * by_index.get(i, 0.0) for i, w in zip(q.indices, q.values, strict=True))


def test_pairs_of_neighbouring_terms_favour_the_passage_that_says_the_phrase() -> None:
    together = "Contact the sales development team in their channel."
    apart = "Development of the channel is led by the sales team."
    plain = SparseEncoder(Tokenizer("jieba"))
    paired = SparseEncoder(Tokenizer("jieba"), pair_weight=0.5)
    assert score(plain, "sales development", together) == score(plain, "sales development", apart)
    assert score(paired, "sales development", together) > score(paired, "sales development", apart)
    assert paired.encode_query("sales").indices == plain.encode_query("sales").indices  # one term: no pair
    assert paired.encode_query(ZH) == plain.encode_query(ZH)  # Chinese words are phrases already
