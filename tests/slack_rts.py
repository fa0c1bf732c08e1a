"""The stand-in's Real-time Search API: `assistant.search.context` over the messages it holds.

Shaped as the method's documentation shows (docs.slack.dev, reference/methods/assistant.search.context):
`query`, `action_token` (required with a bot token), `channel_types` (comma-separated; default
`public_channel`), and `{"ok": true, "results": {"messages": [{author_user_id, team_id, channel_id,
message_ts, content, is_author_bot, permalink}]}, "response_metadata": {"next_cursor": ""}}`. With
`content_types` naming `files`, `results.files[]` too, each shaped as Slack's SDKs type a file result
(node-slack-sdk `AssistantSearchContextResponse.ts` `File`, java-slack-sdk `FileResult` and its
`json-logs/samples/api/assistant.search.context.json`): `uploader_user_id, author_user_id, author_name,
team_id, file_id, date_created, date_updated, title, file_type, permalink, content`; no channel. As Slack
does, it searches as the user the action token was issued for: public channels of the workspace (member or
not), and private channels, group DMs and DMs only where that user is a member; a file where it is shared
in such a channel (or uploaded by that user). `channel_types` is not documented to narrow files, so the
stand-in returns every file the user may read whatever it says: the case Lore must be safe in. A message or
file matches when it shares a word of four letters or more with the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.slack_model import Channel, Message, Result, error_result

_WORD = re.compile(r"\w{4,}")


@dataclass
class SharedFile:
    id: str
    title: str
    content: str
    channels: list[str]  # where it is shared
    user: str  # who uploaded it
    created: int = 1_700_000_000


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
        self.files: list[SharedFile] = []
        self.raw_file_results: list[Any] = []  # returned as they are with every file search (malformed ones)

    def add_file(self, title: str, content: str, *, channels: list[str], user: str) -> SharedFile:
        """A file `user` uploaded and shared in `channels`."""
        shared = SharedFile(f"F{len(self.files) + 1:06d}", title, content, channels, user)
        self.files.append(shared)
        return shared

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
        contents = set(str(args.get("content_types") or "messages").split(","))
        wanted = {w.lower() for w in _WORD.findall(str(args.get("query") or ""))}
        limit = int(args.get("limit") or 20)
        found = []
        for message in self._messages:
            kind = channel_type(self.channels.get(message.channel), message.channel)
            words = {w.lower() for w in _WORD.findall(message.text)}
            readable = kind in types and self._readable(message.channel, user)
            if readable and wanted & words and message.user != "UBOT":
                found.append(message)
        results: dict[str, list[Any]] = {
            "messages": [self._message_result(m) for m in found[:limit]] if "messages" in contents else []
        }
        if "files" in contents:
            files = [
                f
                for f in self.files
                if (f.user == user or any(self._readable(c, user) for c in f.channels))
                and wanted & {w.lower() for w in _WORD.findall(f"{f.title} {f.content}")}
            ]
            results["files"] = [*self.raw_file_results, *(self._file_result(f) for f in files[:limit])]
        return {"ok": True, "results": results, "response_metadata": {"next_cursor": ""}}

    def _readable(self, channel_id: str, user: str) -> bool:
        channel = self.channels.get(channel_id)
        kind = channel_type(channel, channel_id)
        return kind == "public_channel" or (channel is not None and user in channel.members)

    def _message_result(self, m: Message) -> dict[str, Any]:
        return {
            "author_user_id": m.user,
            "team_id": self.team_id,
            "channel_id": m.channel,
            "message_ts": m.ts,
            "content": m.text,
            "is_author_bot": False,
            "permalink": permalink(m),
        }

    def _file_result(self, f: SharedFile) -> dict[str, Any]:
        slug = re.sub(r"\W+", "_", f.title.lower()).strip("_")
        return {
            "uploader_user_id": f.user,
            "author_user_id": f.user,
            "author_name": f.user.lower(),
            "team_id": self.team_id,
            "file_id": f.id,
            "date_created": f.created,
            "date_updated": f.created,
            "title": f.title,
            "file_type": "text",
            "permalink": f"https://standin.slack.com/files/{f.user}/{f.id}/{slug}",
            "content": f.content,
        }
