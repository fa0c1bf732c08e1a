"""One answer written into a Slack thread as it is produced.

Slack's streaming methods (`chat.startStream`, `chat.appendStream`, `chat.stopStream`) are used where they
are allowed; where Slack refuses them, the reply is posted and then updated at a throttled rate. Either way
the finished message carries the Sources and the feedback buttons, and replaces what was streamed when the
final answer differs (a fallback after a mid-stream failure).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import SECTION_CHARS, STREAM_CHARS, escape, markdown_safe, plain_feedback
from bot.steps import Step

log = logging.getLogger(__name__)

Block = dict[str, Any]
REFUSED_BLOCKS = {"invalid_blocks", "invalid_blocks_format"}  # Slack's errors for blocks it cannot show

# A trailing fragment that could still become `<!channel>`, `<url|label>`, `@here` or `[label](url)` with
# the next piece is held back, so that `markdown_safe` mostly sees such syntax whole and shows a link as
# `label (url)`. Safety does not rest on these caps: a longer fragment is sent, and `markdown_safe` defuses
# its open `<` and every `](` `]:` `][`, so no later piece can complete a link of any length.
_OPEN_TAIL = re.compile(r"(?:<[^<>\n]{0,200}|@[^\s<>@]{0,12}|\[[^\]\n]{0,200}(?:\](?:\([^)\s]{0,300})?)?)$")


def sendable(pending: str, *, final: bool) -> str:
    """The part of `pending` that may be streamed now: all of it at the end, else all but an open tail.
    A `]` just before what is held back is held too: with the next `(`, `[` or `:` it would make a link
    that `markdown_safe` must see whole to defuse."""
    if final:
        return pending
    tail = _OPEN_TAIL.search(pending)
    cut = tail.start() if tail else len(pending)
    if cut and pending[cut - 1] == "]":
        cut -= 1
    return pending[:cut]


class ReplyTarget(BaseModel):
    """Where the answer goes and who asked (streaming outside a DM names its recipient)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    thread_ts: str
    team: str
    user: str

    @property
    def is_dm(self) -> bool:
        """True in a direct message (or the assistant pane, which is one)."""
        return self.channel.startswith("D")


class Reply:
    """Writes one answer: `await append(text)` as it arrives, then `await finish(...)` once."""

    def __init__(self, client: AsyncWebClient, target: ReplyTarget, *, interval: float) -> None:
        self.client = client
        self.target = target
        self.interval = interval
        self.ts: str | None = None
        self.streaming: bool | None = None  # None until the first write decides
        self.sent = ""  # the text Slack has, as we sent it
        self._pending = ""
        self._last = 0.0
        self._broken = False  # a write failed mid-way: only `finish` may still fix the message
        self._steps: bool | None = None  # whether Slack shows the steps (task_update chunks); None: untried
        self.ephemeral = False  # for the asker's eyes only: posted once, when finished (nothing streams)
        self.finished = False  # the final message is in the thread

    @property
    def started(self) -> bool:
        """True once a message exists in the thread."""
        return self.ts is not None

    async def append(self, text: str) -> None:
        """Add visible text; it reaches Slack at most every `interval` seconds."""
        self._pending += text
        if self.ephemeral:
            return
        if not self.started or time.monotonic() - self._last >= self.interval:
            await self._flush(final=False)

    async def step(self, step: Step) -> None:
        """Show one step of the work (Slack's `task_update` chunk, as a timeline) before and while the answer
        streams. Where Slack refuses them (a client, surface or workspace without them), the steps stop and
        the answer streams as before; the status text set before the answer stays the sign of progress."""
        if self._steps is False or self._broken or self.streaming is False or self.ephemeral:
            return
        t = self.target
        try:
            if not self.started:
                response = await self.client.chat_startStream(
                    channel=t.channel,
                    thread_ts=t.thread_ts,
                    chunks=[step.chunk()],
                    task_display_mode="timeline",
                    recipient_team_id=None if t.is_dm else t.team,
                    recipient_user_id=None if t.is_dm else t.user,
                )
                self.streaming, self.ts, self.sent = True, str(response["ts"]), ""
            else:
                await self.client.chat_appendStream(
                    channel=t.channel, ts=self.ts or "", chunks=[step.chunk()]
                )
            self._steps = True
        except SlackApiError as exc:
            self._steps = False
            log.info("Slack refused the answer's steps in %s (%s)", t.channel, exc.response.get("error"))

    async def _flush(self, *, final: bool) -> None:
        if self._broken:
            return
        ready = sendable(self._pending, final=final)
        if not ready.strip() and self.started:
            return
        room = STREAM_CHARS - len(self.sent)
        piece = ready[: max(0, room)]
        self._pending = self._pending[len(ready) :]
        if not piece and self.started:
            return
        try:
            if not self.started:
                await self._open(piece)
            elif self.streaming:
                await self.client.chat_appendStream(
                    channel=self.target.channel, ts=self.ts or "", markdown_text=markdown_safe(piece)
                )
                self.sent += piece
            else:
                shown = self.sent + piece
                await self.client.chat_update(
                    channel=self.target.channel, ts=self.ts or "", text=escape(shown[-SECTION_CHARS:])
                )
                self.sent = shown
        except SlackApiError as exc:
            self._broken = True
            log.warning("updating the reply in %s failed: %s", self.target.channel, exc.response.get("error"))
        self._last = time.monotonic()

    async def _open(self, text: str) -> None:
        t = self.target
        if self.streaming is not False:
            try:
                response = await self.client.chat_startStream(
                    channel=t.channel,
                    thread_ts=t.thread_ts,
                    markdown_text=markdown_safe(text),
                    recipient_team_id=None if t.is_dm else t.team,
                    recipient_user_id=None if t.is_dm else t.user,
                )
            except SlackApiError as exc:
                log.info(
                    "chat.startStream refused (%s): posting and updating instead", exc.response.get("error")
                )
                self.streaming = False
            else:
                self.streaming, self.ts, self.sent = True, str(response["ts"]), text
                return
        response = await self.client.chat_postMessage(
            channel=t.channel,
            thread_ts=t.thread_ts,
            text=escape(text[:SECTION_CHARS]) or "…",
            unfurl_links=False,
            unfurl_media=False,
        )
        self.ts, self.sent = str(response["ts"]), text

    async def finish(self, *, streamed_text: str, text: str, blocks: list[Block], tail: list[Block]) -> None:
        """End the message: `tail` (Sources, buttons) after the streamed text, or the whole `blocks`
        when what was streamed is not the final answer (or nothing was streamed). An ephemeral reply is
        posted now, whole, for the asker only."""
        if self.ephemeral:
            t = self.target
            await _with_blocks(
                self.client.chat_postEphemeral,
                blocks,
                channel=t.channel,
                user=t.user,
                thread_ts=t.thread_ts,
                text=text,
            )
            self.finished = True
            return
        await self._flush(final=True)
        same = not self._broken and self.sent.strip() == streamed_text.strip() and streamed_text.strip()
        t = self.target
        if self.started and self.streaming and not self._broken:
            try:
                await _with_blocks(
                    self.client.chat_stopStream, tail if same else None, channel=t.channel, ts=self.ts or ""
                )
            except SlackApiError as exc:
                log.warning("chat.stopStream failed: %s", exc.response.get("error"))
                same = False
            if same:
                self.finished = True
                return
        if self.started:
            try:
                await _with_blocks(
                    self.client.chat_update, blocks, channel=t.channel, ts=self.ts or "", text=text
                )
                self.finished = True
                return
            except SlackApiError as exc:
                log.warning("replacing the reply failed (%s): posting it anew", exc.response.get("error"))
        response = await _with_blocks(
            self.client.chat_postMessage,
            blocks,
            channel=t.channel,
            thread_ts=t.thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        self.ts = str(response["ts"])
        self.finished = True


async def _with_blocks(call: Callable[..., Awaitable[Any]], blocks: list[Block] | None, **args: Any) -> Any:
    """`call(blocks=blocks, **args)`; where Slack refuses the blocks (a surface or client without
    `context_actions`), once more with plain feedback buttons instead of Slack's own."""
    try:
        return await call(blocks=blocks, **args)
    except SlackApiError as exc:
        plain = plain_feedback(blocks) if blocks else None
        if exc.response.get("error") not in REFUSED_BLOCKS or plain == blocks:
            raise
        log.info("Slack refused the feedback buttons (%s): plain buttons instead", exc.response.get("error"))
        return await call(blocks=plain, **args)
