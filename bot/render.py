"""Lore answers as Slack messages: pure functions from `Answer` to Block Kit blocks and fallback text.

Every string from a document or the LLM is escaped (see `bot.mrkdwn`), and every message stays within
Slack's limits: at most `MAX_BLOCKS` blocks, `SECTION_CHARS` per text, `CONTEXT_ELEMENTS` per context block.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import pairwise
from typing import Any

from bot.mrkdwn import ELLIPSIS, age, clip, escape, link, markdown_safe, safe_cut, safe_url, to_mrkdwn
from knowledge.models import Answer, Citation

__all__ = [
    "FEEDBACK",
    "FEEDBACK_BLOCK",
    "FEEDBACK_DOWN",
    "FEEDBACK_REASON",
    "FEEDBACK_UP",
    "MAX_BLOCKS",
    "MESSAGE_CHARS",
    "PRIVATE_ANSWER",
    "SECTION_CHARS",
    "SHARE",
    "SHARE_PART",
    "SNIPPET_CHARS",
    "STREAM_CHARS",
    "Block",
    "age",
    "answer_blocks",
    "escape",
    "fallback_text",
    "link",
    "markdown_safe",
    "notice_blocks",
    "plain_feedback",
    "private_offer_blocks",
    "reason_blocks",
    "share_part_blocks",
    "source_blocks",
    "split_sections",
]

# Slack's limits.
MAX_BLOCKS = 50  # blocks per message
SECTION_CHARS = 3000  # text of a section block or a context element
MESSAGE_CHARS = 40000  # a message's text; also our cap on the answer shown in sections
STREAM_CHARS = 12000  # `markdown_text` of one streaming call
CONTEXT_ELEMENTS = 10  # elements of a context block
# Ours.
SNIPPET_CHARS = 200
TITLE_CHARS = 150
CITATION_ROOM = 10  # blocks kept for sources (including "+N more") however long the answer is

FEEDBACK_BLOCK = "lore_feedback"
FEEDBACK = "lore_feedback_vote"  # Slack's feedback buttons: the value is `up:<answer id>`, `down:<answer id>`
FEEDBACK_REASON = "lore_feedback_reason"  # why a 👎: the value is `<reason>:<answer id>`
FEEDBACK_UP = "lore_feedback_up"  # plain buttons: where Slack refuses its own, and on older answers
FEEDBACK_DOWN = "lore_feedback_down"
PRIVATE_OFFER_BLOCK = "lore_private_offer"
SHARE_BLOCK = "lore_share"
SHARE = "lore_share"  # share a private answer in its channel; the value is the answer id
SHARE_PART = "lore_share_part"  # share only what everyone in the channel may read of it
SHARE_LABEL = "Share in the channel"
PRIVATE_ANSWER = "lore_answer_private"

TRUNCATED_NOTE = "\n_(answer truncated)_"
NO_TEXT = "Lore found no answer."

Block = dict[str, Any]
SKIPPED = "Not searched this time: {names} did not answer in time."

# Boundaries to cut long text at, coarsest first; a cut falls at the end of a match, so a sentence keeps
# its closing `[n]` markers.
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"[.!?…。](?:\[\d+\])*[)\"'”’]*\s+"),
    re.compile(r"\s+"),
)


def answer_blocks(
    answer: Answer,
    *,
    answer_id: str,
    now: datetime,
    feedback: bool = True,
    include_text: bool = True,
    share: bool = False,
) -> list[Block]:
    """The blocks of an answer: its text, its sources and the feedback buttons, within Slack's limits;
    with `share`, a button that offers to share a private answer in the channel it was asked in."""
    tail = [feedback_block(answer_id)] if feedback else []
    if share:
        tail.append(
            {"type": "actions", "block_id": SHARE_BLOCK, "elements": [_button(SHARE_LABEL, SHARE, answer_id)]}
        )
    if answer.skipped:  # federated Lore deployments that did not answer in time
        tail.insert(0, _context(SKIPPED.format(names=", ".join(f"`{escape(n)}`" for n in answer.skipped))))
    cited = len(answer.citations)
    text: list[Block] = []
    if include_text:
        room = MAX_BLOCKS - len(tail) - (2 + min(cited, CITATION_ROOM) if cited else 0)
        text = [_section(part) for part in _answer_sections(answer.answer, room)]
    sources = _sources(answer, now, MAX_BLOCKS - len(text) - len(tail))
    return [*text, *sources, *tail]


def source_blocks(
    answer: Answer, *, answer_id: str, now: datetime, feedback: bool = True, share: bool = False
) -> list[Block]:
    """The blocks that follow a streamed answer's text: sources, feedback and share buttons."""
    return answer_blocks(
        answer, answer_id=answer_id, now=now, feedback=feedback, include_text=False, share=share
    )


def fallback_text(answer: Answer) -> str:
    """The plain `text` of an answer message (notifications, screen readers), at most `SECTION_CHARS`."""
    return clip(to_mrkdwn(answer.answer), SECTION_CHARS) or NO_TEXT


def feedback_block(answer_id: str) -> Block:
    """Slack's own 👍/👎 (`feedback_buttons` in a `context_actions` block); each value names the vote and
    the answer. A second click changes the vote (Slack reports clicks, not un-clicks: the last one counts)."""

    def button(emoji: str, vote: str, label: str) -> Block:
        text = {"type": "plain_text", "text": emoji, "emoji": True}
        return {"text": text, "value": f"{vote}:{answer_id}", "accessibility_label": label}

    return {
        "type": "context_actions",
        "block_id": FEEDBACK_BLOCK,
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK,
                "positive_button": button("👍", "up", "This answer helped"),
                "negative_button": button("👎", "down", "This answer did not help"),
            }
        ],
    }


def plain_feedback(blocks: list[Block]) -> list[Block]:
    """`blocks` with Slack's feedback buttons replaced by plain ones (for a client or surface that refuses
    `context_actions`); both carry the answer id as their value."""
    out: list[Block] = []
    for block in blocks:
        if block.get("type") == "context_actions" and block.get("block_id") == FEEDBACK_BLOCK:
            value = str(block["elements"][0]["positive_button"]["value"])
            answer_id = value.partition(":")[2]
            block = {
                "type": "actions",
                "block_id": FEEDBACK_BLOCK,
                "elements": [
                    _button("👍 Helpful", FEEDBACK_UP, answer_id),
                    _button("👎 Not helpful", FEEDBACK_DOWN, answer_id),
                ],
            }
        out.append(block)
    return out


def reason_blocks(answer_id: str, reasons: dict[str, str]) -> list[Block]:
    """After a 👎: thanks, and an optional reason to pick (`reasons`: value -> label)."""
    return [
        _section("Thanks, your 👎 is recorded. What was wrong? _(optional)_"),
        {
            "type": "actions",
            "block_id": "lore_feedback_reasons",
            "elements": [
                _button(label, FEEDBACK_REASON, f"{value}:{answer_id}") for value, label in reasons.items()
            ],
        },
    ]


def share_part_blocks(text: str, answer_id: str) -> list[Block]:
    """Why a private answer cannot be shared whole, and a button to share its public part."""
    return [
        _section(text),
        {
            "type": "actions",
            "block_id": "lore_share_part",
            "elements": [_button("Share the part everyone there may read", SHARE_PART, answer_id)],
        },
    ]


def notice_blocks(text: str) -> list[Block]:
    """One section with `text` escaped: for honest messages about what went wrong and what to do."""
    if not text.strip():
        raise ValueError("a notice needs text")
    return [_section(_fit(escape(text), SECTION_CHARS))]


def private_offer_blocks(count: int, offer_id: str, why: str = "") -> list[Block]:
    """An ephemeral offer to answer from `count` sources only the asker can read, without naming them;
    `why` says why the channel's answer left them out."""
    if count < 1:
        raise ValueError(f"a private offer needs at least one source, not {count}")
    sources = "1 more source" if count == 1 else f"{count} more sources"
    text = f"{sources} that only you can read may answer this better."
    if why:
        text += f" I left them out because {escape(why)}."
    return [
        _section(text),
        {
            "type": "actions",
            "block_id": PRIVATE_OFFER_BLOCK,
            "elements": [_button("Answer me privately", PRIVATE_ANSWER, offer_id)],
        },
    ]


def split_sections(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """`text` in stripped pieces of at most `limit` characters, cut at paragraphs, lines, sentences, words."""
    return [piece.strip() for piece in _split(text, limit, 0) if piece.strip()]


def _answer_sections(text: str, room: int) -> list[str]:
    """The answer as mrkdwn sections: at most `room` of them and `MESSAGE_CHARS` in all."""
    sections = split_sections(to_mrkdwn(text))
    kept: list[str] = []
    total = 0
    for section in sections:
        if len(kept) == room or (kept and total + len(section) > MESSAGE_CHARS):
            break
        kept.append(section)
        total += len(section)
    if len(kept) < len(sections):
        last = split_sections(kept[-1], SECTION_CHARS - len(TRUNCATED_NOTE))[0]
        kept[-1] = last + TRUNCATED_NOTE
    return kept


def _sources(answer: Answer, now: datetime, room: int) -> list[Block]:
    """Divider, heading and one context block per citation; what does not fit folds into "+N more"."""
    citations = answer.citations
    if not citations:
        return []
    heading = "*Closest sources*" if answer.mode == "no_answer" else "*Sources*"
    room -= 2
    shown = citations if len(citations) <= room else citations[: room - 1]
    blocks = [{"type": "divider"}, _section(heading), *[_citation(c, now) for c in shown]]
    if rest := len(citations) - len(shown):
        blocks.append(_context(f"+{rest} more source" + ("" if rest == 1 else "s")))
    return blocks


def _citation(citation: Citation, now: datetime) -> Block:
    """`[n] <url|title> · source · age`, then the snippet."""
    title = clip(citation.title, TITLE_CHARS) or citation.doc_id
    snippet = escape(clip(citation.snippet, SNIPPET_CHARS))
    when = age(citation.updated_at, now)

    where = "" if safe_url(citation.url) or title == citation.doc_id else f"`{escape(citation.doc_id)}`"

    def text(label: str) -> str:
        parts = (f"[{citation.n}] {label}", where, escape(citation.source), when)
        head = " · ".join(part for part in parts if part)
        return f"{head}\n{snippet}" if snippet else head

    rendered = text(link(citation.url, title))
    if len(rendered) > SECTION_CHARS:  # an absurdly long url: show the title alone
        rendered = _fit(text(escape(title)), SECTION_CHARS)
    return _context(rendered)


def _split(text: str, limit: int, level: int) -> list[str]:
    """Pieces of `text` (unstripped) within `limit`, packing segments cut at boundary `level` or finer."""
    if len(text) <= limit:
        return [text]
    if level == len(_BOUNDARIES):
        return _hard_split(text, limit)
    pieces: list[str] = []
    current = ""
    for segment in _segments(text, _BOUNDARIES[level]):
        if len(current) + len(segment) <= limit:
            current += segment
            continue
        if current:
            pieces.append(current)
        current = segment if len(segment) <= limit else ""
        if not current:
            pieces.extend(_split(segment, limit, level + 1))
    if current:
        pieces.append(current)
    return pieces


def _segments(text: str, boundary: re.Pattern[str]) -> list[str]:
    """`text` cut after every match of `boundary`; the segments join back to `text`."""
    bounds = [0, *(m.end() for m in boundary.finditer(text) if 0 < m.end() < len(text)), len(text)]
    return [text[a:b] for a, b in pairwise(bounds) if b > a]


def _hard_split(text: str, limit: int) -> list[str]:
    """A word longer than `limit`, cut without splitting an entity or an `[n]` marker."""
    pieces = []
    while len(text) > limit:
        cut = safe_cut(text, limit)
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def _fit(text: str, limit: int) -> str:
    """`text` (newlines kept) cut at a boundary to at most `limit` characters, ending in "…" if cut."""
    return text if len(text) <= limit else split_sections(text, limit - len(ELLIPSIS))[0] + ELLIPSIS


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(label: str, action_id: str, value: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }


def title_of(question: str, limit: int = 80) -> str:
    """A thread title from its first question: one line, cut at a word."""
    line = " ".join(question.split())
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"
