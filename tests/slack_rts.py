"""The stand-in's Real-time Search API: `assistant.search.context` over the messages it holds.

Shaped as the method's documentation shows (docs.slack.dev, reference/methods/assistant.search.context):
`query`, `action_token` (required with a bot token), `channel_types` (comma-separated; default
`public_channel`), and `{"ok": true, "results": {"messages": [{author_user_id, team_id, channel_id,
message_ts, content, is_author_bot, permalink}]}, "response_metadata": {"next_cursor": ""}}`. As Slack
does, it searches as the user the action token was issued for: public channels of the workspace (member or
not), and private channels, group DMs and DMs only where that user is a member. A message matches when it
shares a word of four letters or more with the query.
"""

from __future__ import annotations

import re
from typing import Any

from tests.slack_model import Channel, Message, Result, error_result

_WORD = re.compile(r"\w{4,}")


def channel_type(channel: Channel | None, channel_id: str) -> str:
    if channel is None:
        return "im" if channel_id.startswith("D") else "public_channel"
    if channel.is_im:
        return "im"
    if channel.is_mpim:
        return "mpim"
    return "private_channel" if channel.is_private else "public_channel"


def permalink(message: Message) -> str:
    return f"https://standin.slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"


class SearchMethods:
    """Mixed into the stand-in, which provides `channels`, `team_id` and its messages."""

    channels: dict[str, Channel]
    team_id: str
    _messages: list[Message]

    def __init__(self) -> None:
        super().__init__()
        self.action_tokens: dict[str, str] = {}  # token -> the user it was issued for

    def action_token(self, user: str) -> str:
        """A token as Slack sends with `user`'s message event."""
        token = f"act.{user}.{len(self.action_tokens)}"
        self.action_tokens[token] = user
        return token

    def _search_context(self, args: dict[str, Any]) -> Result:
        user = self.action_tokens.get(str(args.get("action_token") or ""))
        if user is None:
            return error_result("invalid_action_token")
        types = set(str(args.get("channel_types") or "public_channel").split(","))
        wanted = {w.lower() for w in _WORD.findall(str(args.get("query") or ""))}
        found = []
        for message in self._messages:
            channel = self.channels.get(message.channel)
            kind = channel_type(channel, message.channel)
            readable = kind == "public_channel" or (channel is not None and user in channel.members)
            words = {w.lower() for w in _WORD.findall(message.text)}
            if kind in types and readable and wanted & words and message.user != "UBOT":
                found.append(message)
        return {
            "ok": True,
            "results": {
                "messages": [
                    {
                        "author_user_id": m.user,
                        "team_id": self.team_id,
                        "channel_id": m.channel,
                        "message_ts": m.ts,
                        "content": m.text,
                        "is_author_bot": False,
                        "permalink": permalink(m),
                    }
                    for m in found[: int(args.get("limit") or 20)]
                ]
            },
            "response_metadata": {"next_cursor": ""},
        }
