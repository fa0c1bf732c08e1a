"""Untrusted text (a file name, a title, an error) made safe for Slack's mrkdwn: shown literally, it can never
ping a channel, mention someone or disguise a link. The bot's messages and the worker's DMs both use it."""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"  # invisible; breaks `@here` without changing what people read

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def escape(text: str) -> str:
    """`&`, `<` and `>` as entities (so `<!channel>` and `<url|label>` stay text) and `@channel`, `@here`,
    `@everyone` broken by an invisible joiner."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + WORD_JOINER, text)
