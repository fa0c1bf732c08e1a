"""Follow-ups made standalone: "and for the next one?" becomes a question retrieval can answer.

With an LLM, the model rewrites the follow-up from the conversation; without one (or when it fails or is
slow), a deterministic rule carries the content words of the thread (its subject first) in front of a
follow-up that leans on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from pydantic import BaseModel

from knowledge.answering.citations import renumber
from knowledge.answering.function_words import CJK_FUNCTION_WORDS
from knowledge.answering.llm import ChatClient, LLMError
from knowledge.answering.prompt import ChatMessage
from knowledge.sparse import CJK_CHARS, ENGLISH_STOPWORDS, Tokenizer, detect_lang
from knowledge.tokens import truncate_tokens

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str]]

REWRITE_TIMEOUT = 10.0  # seconds: past this the deterministic rule is good enough
TURNS = 3
TURN_TOKENS = 150

_ANAPHORA_TEXT = """
it its it's that this those these they them their theirs he she his her one ones next previous following
same other others else last former latter also too
"""
ANAPHORA_EN: frozenset[str] = frozenset(_ANAPHORA_TEXT.split())
FOLLOW_UP_OPENINGS = ("and ", "what about", "how about", "also", "but ", "same ", "then ", "or ")
ANAPHORA_CJK = ("这", "那", "它", "他们", "她们", "呢", "还有", "下一个", "上一个", "前者", "后者", "同样")
SHORT_CONTENT_WORDS = 2
SHORT_CJK_CHARS = 8
CARRIED_WORDS = 3  # content words of the thread a follow-up carries, its subject first (3: measured best)
# A Chinese or Japanese follow-up carries the first phrase of the thread instead: its subject, whole
# (1 phrase: domainrag conversations MRR@10 0.346 -> 0.376; 2 or 3 carry verbs and drift, see how-lore-works)
CARRIED_PHRASES_CJK = 1
_PIECE = re.compile(rf"(?P<cjk>[{CJK_CHARS}]+)|[^\W_]+(?:[-'’][^\W_]+)*")
_SEGMENTER = Tokenizer("jieba", jieba_search=False)  # for a CJK run, its words as written

SYSTEM = """\
You rewrite the last message of a conversation into one standalone question that can be understood \
without the conversation: resolve pronouns and references such as "it", "that one" or "the next one" using \
the earlier turns. Keep the language of the message. If it is already standalone, return it unchanged. \
Reply with the question only, no preamble."""


def needs_context(question: str) -> bool:
    """True when the question leans on earlier turns (pronouns, "the next one", very short)."""
    text = question.strip().lower()
    if detect_lang(text) in ("zh", "ja"):
        han = re.sub(r"[\s\W]", "", text)
        return len(han) <= SHORT_CJK_CHARS or any(cue in text for cue in ANAPHORA_CJK)
    words = re.findall(r"[\w']+", text)
    content = [w for w in words if w not in ENGLISH_STOPWORDS and w not in ANAPHORA_EN]
    return (
        len(content) <= SHORT_CONTENT_WORDS
        or text.startswith(FOLLOW_UP_OPENINGS)
        or any(w in ANAPHORA_EN for w in words)
    )


def refers_back(question: str) -> bool:
    """True when a question asked in a thread leans on it: `needs_context`, or any Chinese or Japanese
    question (pro-drop languages leave the subject out instead of naming it with a pronoun)."""
    return needs_context(question) or detect_lang(question) in ("zh", "ja")


def content_words(text: str) -> list[str]:
    """The words of `text` that name what it is about, in order, once each: no stopwords, question words
    or references; CJK runs segmented into words (jieba), words of one character left out."""
    seen: set[str] = set()
    out: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        if match.lastgroup == "cjk":
            words = [w for w in _SEGMENTER.tokens(piece) if len(w) > 1 and w not in CJK_FUNCTION_WORDS]
        else:
            lower = piece.lower()
            words = [] if lower in ENGLISH_STOPWORDS or lower in ANAPHORA_EN else [piece]
        for word in words:
            if word.lower() not in seen:
                seen.add(word.lower())
                out.append(word)
    return out


def cjk_phrases(text: str) -> list[str]:
    """The phrases of the Chinese or Japanese runs of `text` that name what it is about, in order, once
    each: its words (jieba) joined again between function words, so that a name jieba cuts into pieces
    ("中国人民大学/应用/经济/学院", "国/学院") travels whole, as it is written."""
    out: list[str] = []
    for run in re.findall(rf"[{CJK_CHARS}]+", text):
        phrase: list[str] = []
        for word in [*_SEGMENTER.tokens(run), ""]:
            if word and word not in CJK_FUNCTION_WORDS:
                phrase.append(word)
                continue
            joined = "".join(phrase)
            if len(joined) > 1 and joined not in out:
                out.append(joined)
            phrase = []
    return out


class Standalone(BaseModel):
    """A question made standalone: `question` is what is answered and remembered, `search` what retrieval
    searches (the same text, except for the deterministic rule's English follow-ups: there the follow-up's
    own references, "and the last one?", are left out of the search, see `fallback_standalone`)."""

    question: str
    search: str

    @classmethod
    def same(cls, question: str) -> Standalone:
        """`question`, answered and searched as it is."""
        return cls(question=question, search=question)


def fallback_standalone(question: str, history: History) -> Standalone:
    """The deterministic rule: a follow-up that leans on the thread gets the thread's content words in
    front: the first `CARRIED_WORDS` of the previous standalone question (which carries the thread's
    subject first), less those the follow-up already has. Bounded, so a long thread does not pile up.
    A Chinese or Japanese follow-up carries the first phrase instead (`cjk_phrases`): jieba cuts a name
    such as 应用经济学院 into words that, capped at three, lost the name's distinguishing part.

    An English follow-up searches the carried words and its own content words only: its references and
    function words ("and the last one?") name nothing on the page, and "last" or "one" pulled in pages
    that say them (handbook follow-ups 0.846 -> 0.923 evidence, see docs/benchmarks.md). A Chinese one
    searches as written: its content words alone lost a tenth of the domainrag conversations (recall@5
    0.694 -> 0.592)."""
    asked = question.strip()
    if not history or not refers_back(asked):
        return Standalone.same(asked)
    # The bot remembers standalone questions; `lore chat` and API clients send what was typed, where the
    # previous turn may be a bare "and the next one?": the latest turn that names something, then.
    previous = next((q for q, _ in reversed(history) if content_words(q)), history[-1][0])
    if detect_lang(asked) in ("zh", "ja"):
        # asked in English, it has no phrase: its words then
        words = cjk_phrases(previous)[:CARRIED_PHRASES_CJK] or content_words(previous)[:CARRIED_WORDS]
        carried = [w for w in words if w.lower() not in asked.lower()]
        return Standalone.same(" ".join([*carried, asked]))
    words = content_words(previous)[:CARRIED_WORDS]
    carried = [w for w in words if w.lower() not in asked.lower()]
    search = " ".join([*carried, *content_words(asked)])
    return Standalone(question=" ".join([*carried, asked]), search=search or asked)


def rewrite_messages(question: str, history: History) -> list[ChatMessage]:
    """The chat request that asks a model for the standalone question."""
    lines = []
    for asked, answered in list(history)[-TURNS:]:
        plain = renumber(answered, valid=()).text.strip()
        lines.append(f"User: {truncate_tokens(asked.strip(), TURN_TOKENS)}")
        lines.append(f"Assistant: {truncate_tokens(plain, TURN_TOKENS)}")
    conversation = "\n".join(lines)
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nLast message: {question.strip()}"},
    ]


async def standalone_question(question: str, history: History, llm: ChatClient | None) -> Standalone:
    """The follow-up as a standalone question (unchanged when there is no history)."""
    if not history:
        return Standalone.same(question.strip())
    if llm is not None:
        try:
            reply = await asyncio.wait_for(llm.complete(rewrite_messages(question, history)), REWRITE_TIMEOUT)
        except (LLMError, TimeoutError) as exc:
            log.warning("rewriting the follow-up failed, using the deterministic rule: %s", exc)
        else:
            rewritten = reply.strip().strip('"').strip()
            if rewritten and len(rewritten) < 1000:
                return Standalone.same(rewritten)
    # off the event loop: jieba loads its dictionary (about a second) the first time a thread is Chinese
    return await asyncio.to_thread(fallback_standalone, question, history)
