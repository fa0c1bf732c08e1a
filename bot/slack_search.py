"""Slack itself as a source, without copying Slack: its messages and files searched at question time with
Slack's Real-time Search API (`assistant.search.context`), on the asker's behalf, nothing stored.

The search runs with the `action_token` of the asker's message, so Slack returns only what the asker may
read. What an answer may draw on also depends on who reads the reply: in a DM or the assistant pane that is
the asker (public and private channels, group DMs and DMs, and files); in a channel it must be what everyone
there may read, so only public-channel messages, and only in a public channel without guests or outsiders (a
guest cannot open the other public channels). A file result names no channel and no visibility, so nothing
tells a file shared in a public channel from a private one: files are searched only for the asker's own
answers. Elsewhere Slack is not searched.

The response's shape: `results.messages[]` as the method's documented example shows (docs.slack.dev,
reference/methods/assistant.search.context): `channel_id`, `message_ts`, `content`, `author_user_id`,
`is_author_bot`, `permalink`. `results.files[]` as Slack's SDKs type it, generated from Slack's responses
(node-slack-sdk `packages/web-api/src/types/response/AssistantSearchContextResponse.ts` `File`; java-slack-sdk
`AssistantSearchContextResponse.FileResult` and `json-logs/samples/api/assistant.search.context.json`):
`file_id`, `title`, `file_type`, `content`, `permalink`, `date_created`, `date_updated`, `uploader_user_id`,
`author_user_id`, `author_name`, `team_id`, every one optional.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import chain, zip_longest
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.mrkdwn import safe_url
from knowledge.access import PUBLIC
from knowledge.models import Chunk, ScoredChunk
from knowledge.tokens import truncate_tokens

log = logging.getLogger(__name__)

SOURCE = "slack"  # the source id of Slack's messages and files among the hits
LIMIT = 10  # results asked for (Slack allows up to 20)
FILE_TOKENS = 512  # a file's content is cut to about one hit's window (LORE_WINDOW_TOKENS' default)
Scope = Literal["asker", "public"]
CHANNEL_TYPES: dict[Scope, str] = {
    "asker": "public_channel,private_channel,mpim,im",
    "public": "public_channel",
}
CONTENT_TYPES: dict[Scope, str] = {"asker": "messages,files", "public": "messages"}
Result = TypeVar("Result", "SlackMessage", "SlackFile")


class SlackMessage(BaseModel):
    """One message result of `assistant.search.context`."""

    channel_id: str
    message_ts: str
    content: str
    permalink: str
    author_user_id: str = ""
    is_author_bot: bool = False


class SlackFile(BaseModel):
    """One file result of `assistant.search.context`: its content is the hit's text, its permalink and
    title its citation."""

    content: str
    permalink: str
    file_id: str = ""
    title: str = ""
    file_type: str = ""
    date_created: int | None = None
    date_updated: int | None = None


class SlackSearch:
    """Searches Slack as the asker; any failure (no token, a refusal, a malformed result) finds nothing."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def hits(self, query: str, action_token: str | None, scope: Scope) -> list[ScoredChunk]:
        """Slack's messages (and, for the asker alone, files) on `query` that the reply's readers may read,
        best first, as hits of `slack`: Slack ranks messages and files apart, so they take turns."""
        if not action_token or not query.strip():
            return []
        try:
            response = await self.client.assistant_search_context(
                query=query,
                action_token=action_token,
                channel_types=CHANNEL_TYPES[scope],
                content_types=CONTENT_TYPES[scope],
                limit=LIMIT,
            )
        except SlackApiError as exc:
            log.info(
                "Slack search refused (%s): answering from the indexed sources", exc.response.get("error")
            )
            return []
        results = response.get("results") or {}
        messages = [
            _message_hit(m, scope) for m in _valid(results, "messages", SlackMessage) if _allowed(m, scope)
        ]
        files = [_file_hit(f) for f in _valid(results, "files", SlackFile)] if scope == "asker" else []
        turns = chain.from_iterable(zip_longest(messages, files))
        return [_ranked(hit, rank) for rank, hit in enumerate(h for h in turns if h is not None)]


def _valid(results: Any, kind: str, model: type[Result]) -> list[Result]:
    """The well-formed results of `kind` with some text and a safe link; a malformed one is skipped."""
    found = []
    for raw in (results.get(kind) if isinstance(results, dict) else None) or []:
        try:
            result = model.model_validate(raw)
        except ValidationError:
            log.info("a malformed Slack %s result skipped", kind)
            continue
        if result.content.strip() and safe_url(result.permalink):
            found.append(result)
    return found


def _allowed(message: SlackMessage, scope: Scope) -> bool:
    """A message the reply's readers may read: for a channel's readers, only a channel's message (a DM or
    group DM, `D…`/`G…`, never; its channel type was asked of Slack)."""
    return scope == "asker" or message.channel_id.startswith("C")


def _message_hit(message: SlackMessage, scope: Scope) -> Chunk:
    """A message as a hit's chunk: its permalink is its citation."""
    when = _when(lambda: float(message.message_ts))
    return Chunk(
        source_id=SOURCE,
        doc_id=f"{message.channel_id}/{message.message_ts}",
        chunk_no=0,
        title=f"Slack message of {when:%Y-%m-%d}",
        url=message.permalink,
        text=message.content,
        updated_at=when,
        acl=[PUBLIC] if scope == "public" else [],
    )


def _file_hit(file: SlackFile) -> Chunk:
    """A file as a hit's chunk (for the asker alone): its title and permalink are its citation."""
    when = _when(lambda: float(file.date_updated or file.date_created or 0))
    return Chunk(
        source_id=SOURCE,
        doc_id=f"files/{file.file_id or file.permalink}",
        chunk_no=0,
        title=file.title.strip() or f"Slack file of {when:%Y-%m-%d}",
        url=file.permalink,
        text=truncate_tokens(file.content, FILE_TOKENS),
        updated_at=when,
        acl=[],
    )


def _when(seconds: Callable[[], float]) -> datetime:
    try:
        return datetime.fromtimestamp(seconds(), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, tz=UTC)


def _ranked(chunk: Chunk, rank: int) -> ScoredChunk:
    """A hit whose score falls with Slack's rank."""
    return ScoredChunk(chunk=chunk, score=1.0 / (rank + 1))
