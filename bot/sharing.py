"""Sharing a private answer into the channel it was asked in, by the person who asked.

Only when everyone who can read that channel may read every source the answer cites, checked when the
button is pressed (access may have narrowed since the answer was written). Otherwise the asker is told why
and may share the part that is public: the sentences whose every citation everyone there may read, with
only those sources. Nothing of a source the channel may not read (text, title, link) is posted.
"""

from __future__ import annotations

import logging
import re

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.feedback import AnswerRecord, CitedSource
from bot.identity import Identity
from bot.mrkdwn import escape, link, to_mrkdwn
from knowledge import keys
from knowledge.access import PUBLIC, Principal
from knowledge.index.base import Index, IndexUnavailable
from knowledge.kv.base import KeyValue

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\[(\d+)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])(?:\[\d+\])*\s+|\n+")
EXPIRED = "That answer can no longer be shared (it is older than 90 days): ask me again in the channel."
NOT_YOURS = "Only the person who asked can share this answer."


class Outcome(BaseModel):
    """What the asker is told (ephemerally), and whether to offer sharing the public part."""

    text: str
    offer_part: bool = False


class Sharing:
    """Shares private answers (their records are kept with the feedback) into their channel's thread."""

    def __init__(self, store: KeyValue, identity: Identity, index: Index, client: AsyncWebClient) -> None:
        self.store = store
        self.identity = identity
        self.index = index
        self.client = client

    async def share(self, answer_id: str, user: str, *, part: bool = False) -> Outcome:
        """Share the whole answer (or, with `part`, what everyone in the channel may read of it)."""
        record = await self._record(answer_id)
        if record is None or record.share_to is None:
            return Outcome(text=EXPIRED)
        if record.user != user:
            return Outcome(text=NOT_YOURS)
        readable = await self._readable_by_channel(record)
        if not part and len(readable) < len(record.citations):
            where = f"<#{record.share_to}>"
            text = (
                f"I can't share this whole answer in {where}: it cites sources not everyone there may read."
            )
            return Outcome(
                text=text + " You can share the part drawn only from sources they may read.", offer_part=True
            )
        text = record.answer if not part else public_part(record.answer, {c.n for c in readable})
        if not text.strip():
            where = f"<#{record.share_to}>"
            return Outcome(
                text=f"Nothing of this answer comes only from sources everyone in {where} may read."
            )
        await self._post(record, text, [c for c in record.citations if c in readable], user)
        return Outcome(text=f"Shared in <#{record.share_to}>.")

    async def _record(self, answer_id: str) -> AnswerRecord | None:
        raw = await self.store.get(keys.answer(answer_id))
        return AnswerRecord.model_validate_json(raw) if raw else None

    async def _readable_by_channel(self, record: AnswerRecord) -> list[CitedSource]:
        """The cited sources everyone who can read the channel may read now (unknown: not readable)."""
        assert record.share_to is not None
        everyone = await self.identity.audience(record.team, record.share_to)
        grants = Principal(grants=everyone.principal.grants | {PUBLIC}).sorted()
        readable = []
        for citation in record.citations:
            try:
                if await self.index.document_chunks(citation.source, citation.doc_id, grants):
                    readable.append(citation)
            except IndexUnavailable as exc:
                log.warning("cannot tell whether a cited document is readable in the channel: %s", exc)
        return readable

    async def _post(self, record: AnswerRecord, text: str, sources: list[CitedSource], user: str) -> None:
        assert record.share_to is not None
        lines = [f"<@{user}> shared an answer to: {escape(record.question)}", "", to_mrkdwn(text)]
        if sources:
            lines += ["", "*Sources*", *(f"[{c.n}] {link(c.url, c.title)}" for c in sources)]
        message = "\n".join(lines)
        sections = render.split_sections(message)[: render.MAX_BLOCKS]
        try:
            await self.client.chat_postMessage(
                channel=record.share_to,
                thread_ts=record.share_thread,
                text=message[: render.SECTION_CHARS],
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections],
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            log.warning("sharing into %s failed: %s", record.share_to, exc.response.get("error"))
            raise


def public_part(answer: str, readable: set[int]) -> str:
    """The sentences of `answer` whose every `[n]` is in `readable` (and that cite at least one)."""
    kept = []
    for sentence in _sentences(answer):
        cited = {int(n) for n in _MARKER.findall(sentence)}
        if cited and cited <= readable:
            kept.append(sentence.strip())
    return " ".join(kept)


def _sentences(text: str) -> list[str]:
    """Sentences with their trailing markers (`Travel is booked in Navan.[1]`)."""
    out, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        out.append(text[start : match.end()])
        start = match.end()
    out.append(text[start:])
    return [s for s in out if s.strip()]
