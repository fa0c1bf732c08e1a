"""Slack itself as a source, without copying Slack: its messages searched at question time with Slack's
Real-time Search API (`assistant.search.context`), on the asker's behalf, nothing stored.

The search runs with the `action_token` of the asker's message, so Slack returns only what the asker may
read. What an answer may draw on also depends on who reads the reply: in a DM or the assistant pane that is
the asker (public and private channels, group DMs and DMs); in a channel it must be what everyone there may
read, so only public-channel messages, and only in a public channel without guests or outsiders (a guest
cannot open the other public channels). Elsewhere Slack is not searched.

The response's shape is the method's documented example (docs.slack.dev, reference/methods/
assistant.search.context): `results.messages[]` with `channel_id`, `message_ts`, `content`,
`author_user_id`, `is_author_bot` and `permalink`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.mrkdwn import safe_url
from knowledge.access import PUBLIC
from knowledge.models import Chunk, ScoredChunk

log = logging.getLogger(__name__)

SOURCE = "slack"  # the source id of Slack's messages among the hits
LIMIT = 10  # results asked for (Slack allows up to 20)
Scope = Literal["asker", "public"]
CHANNEL_TYPES: dict[Scope, str] = {
    "asker": "public_channel,private_channel,mpim,im",
    "public": "public_channel",
}


class SlackMessage(BaseModel):
    """One message result of `assistant.search.context`."""

    channel_id: str
    message_ts: str
    content: str
    permalink: str
    author_user_id: str = ""
    is_author_bot: bool = False


class SlackSearch:
    """Searches Slack as the asker; any failure (no token, a refusal, a malformed result) finds nothing."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def hits(self, query: str, action_token: str | None, scope: Scope) -> list[ScoredChunk]:
        """Slack's messages on `query` that the reply's readers may read, best first, as hits of `slack`."""
        if not action_token or not query.strip():
            return []
        try:
            response = await self.client.assistant_search_context(
                query=query,
                action_token=action_token,
                channel_types=CHANNEL_TYPES[scope],
                content_types="messages",
                limit=LIMIT,
            )
        except SlackApiError as exc:
            log.info(
                "Slack search refused (%s): answering from the indexed sources", exc.response.get("error")
            )
            return []
        found = []
        for raw in ((response.get("results") or {}).get("messages")) or []:
            message = _message(raw)
            if message is not None and _allowed(message, scope):
                found.append(message)
        return [_hit(message, rank, scope) for rank, message in enumerate(found)]


def _message(raw: Any) -> SlackMessage | None:
    try:
        message = SlackMessage.model_validate(raw)
    except ValidationError:
        return None
    return message if message.content.strip() and safe_url(message.permalink) else None


def _allowed(message: SlackMessage, scope: Scope) -> bool:
    """A message the reply's readers may read: for a channel's readers, only a channel's message (a DM or
    group DM, `D…`/`G…`, never; its channel type was asked of Slack)."""
    return scope == "asker" or message.channel_id.startswith("C")


def _hit(message: SlackMessage, rank: int, scope: Scope) -> ScoredChunk:
    """A message as a hit: its permalink is its citation; its score falls with Slack's rank."""
    try:
        when = datetime.fromtimestamp(float(message.message_ts), tz=UTC)
    except ValueError:
        when = datetime.fromtimestamp(0, tz=UTC)
    chunk = Chunk(
        source_id=SOURCE,
        doc_id=f"{message.channel_id}/{message.message_ts}",
        chunk_no=0,
        title=f"Slack message of {when:%Y-%m-%d}",
        url=message.permalink,
        text=message.content,
        updated_at=when,
        acl=[PUBLIC] if scope == "public" else [],
    )
    return ScoredChunk(chunk=chunk, score=1.0 / (rank + 1))
