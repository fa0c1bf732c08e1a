"""The honest answer when the sources do not answer the question: say so, and list the closest ones."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.answering.citations import citation
from knowledge.models import Answer, ScoredChunk
from knowledge.sparse import detect_lang

CLOSEST = 3

TEXTS = {
    "en": (
        "I couldn't find this in the sources you can access.",
        "I couldn't find anything about this in the sources you can access.",
        "Closest sources:",
    ),
    "zh": ("在你有权访问的资料中没有找到答案。", "在你有权访问的资料中没有找到相关内容。", "最接近的来源："),
    "ja": (
        "アクセスできる資料の中に答えが見つかりませんでした。",
        "アクセスできる資料の中に関連する情報が見つかりませんでした。",
        "最も近い資料：",
    ),
}


def closest(hits: Sequence[ScoredChunk], k: int = CLOSEST) -> list[ScoredChunk]:
    """The best `k` hits, one per document, best first."""
    seen: set[tuple[str, str]] = set()
    picked: list[ScoredChunk] = []
    for hit in hits:
        key = (hit.chunk.source_id, hit.chunk.doc_id)
        if key not in seen:
            seen.add(key)
            picked.append(hit)
        if len(picked) == k:
            break
    return picked


def no_answer(question: str, hits: Sequence[ScoredChunk]) -> Answer:
    """`no_answer` in the question's language (Chinese, Japanese or English), with the closest sources."""
    lang = detect_lang(question)
    found_none, nothing_at_all, closest_label = TEXTS.get(lang, TEXTS["en"])
    near = closest(hits)
    if not near:
        return Answer(answer=nothing_at_all, mode="no_answer", citations=[])
    markers = " ".join(f"[{n}]" for n in range(1, len(near) + 1))
    space = "" if lang in ("zh", "ja") else " "  # Chinese punctuation carries its own spacing
    text = f"{found_none}{space}{closest_label}{space}{markers}"
    return Answer(
        answer=text,
        mode="no_answer",
        citations=[citation(n, hit, question) for n, hit in enumerate(near, start=1)],
    )
