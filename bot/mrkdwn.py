"""Slack text safety: escaping untrusted text for mrkdwn and markdown, links, ages and clean cuts.

Everything that reaches Slack from a document, a title, a snippet or the LLM goes through `escape` (mrkdwn)
or `markdown_safe` (standard markdown for `markdown_text`), so it can never ping a channel, mention someone
or disguise a link.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from knowledge import slack_text

WORD_JOINER = "\u2060"  # invisible; breaks `@here` and `<!...>` without changing what people read
ELLIPSIS = "…"

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
# `<!channel>`, `<@U1>`, `<#C1>` and `<anything|label>`; `<` already followed by the joiner never matches.
_SLACK_ANGLE = re.compile(r"<(?=[!@#]|[^<>\s\u2060][^<>\n]*\|[^<>\n]*>)")
# `[label](url)`: shown as `label (url)` so a link can never hide where it goes
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
# What is left of a link's syntax (nested brackets, a title, a label cut off in an earlier piece of a
# stream): `](`, `][` and `]:` (a reference definition) are split, so no link can form, of any length.
_LINK_JOINT = re.compile(r"\](?=[(\[:])")
# A `<` not closed in this text: a later piece of a stream could close it into `<url|label>`.
_OPEN_ANGLE = re.compile(r"<(?=[^\s<>\u2060][^<>]*$)")
_UNSAFE_URL = re.compile(r"[\s<>|]")
_HTTP = re.compile(r"https?://\S", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[*-][ \t]+", re.MULTILINE)
# Text that a cut must never split: escaped entities and `[n]` citation markers.
_ATOM = re.compile(r"&(?:amp|lt|gt);|\[\d+\]")
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Untrusted text as mrkdwn that shows literally: no pings, mentions or disguised links."""
    return slack_text.escape(text)


def markdown_safe(text: str) -> str:
    """Standard markdown with Slack's special syntax (`<!…>`, `<@…>`, `<#…>`, `<…|…>`, `@here`) defused,
    and `[label](url)` links shown as `label (url)` so that none hides its target. Safe per piece of a
    stream: what is still open at the end (`<`, `[label`) cannot be completed into a link by what follows."""
    text = _LINK_JOINT.sub("]" + WORD_JOINER, _MD_LINK.sub(r"\1 (\2)", text))
    text = _OPEN_ANGLE.sub("<" + WORD_JOINER, _SLACK_ANGLE.sub("<" + WORD_JOINER, text))
    return _BROADCAST.sub("@" + WORD_JOINER, text)


def to_mrkdwn(text: str) -> str:
    """Untrusted markdown (LLM output) as escaped mrkdwn: `**b**` and `# h` become `*b*`, list items `•`."""
    text = _HEADING.sub(lambda m: f"**{m.group(1).strip('*')}**", escape(text))
    text = _BULLET.sub(r"\1• ", text)
    return _BOLD.sub(r"*\1*", text)


def safe_url(url: str) -> bool:
    """True when `url` is http(s) and cannot break out of `<url|label>`."""
    return bool(_HTTP.match(url)) and not _UNSAFE_URL.search(url)


def link(url: str, title: str) -> str:
    """`<url|title>` for a safe http(s) url, else the escaped title (file paths stay plain text)."""
    label = escape(title.strip())
    if not safe_url(url):
        return label or escape(url)
    if not label:
        return f"<{url.replace('&', '&amp;')}>"
    return f"<{url.replace('&', '&amp;')}|{label.replace('|', '∣')}>"


def age(updated_at: datetime | None, now: datetime) -> str:
    """Whole elapsed days since `updated_at` in words ("today", "3 days ago"); "" if unknown."""
    if updated_at is None:
        return ""
    if (updated_at.tzinfo is None) != (now.tzinfo is None):  # compare naive times as UTC
        updated_at, now = _utc(updated_at), _utc(now)
    days = (now - updated_at).days
    if days < 1:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    if days < 30:
        return _ago(days // 7, "week")
    if days < 365:
        return _ago(days // 30, "month")
    return _ago(days // 365, "year")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit} ago" if count == 1 else f"{count} {unit}s ago"


def clip(text: str, limit: int) -> str:
    """`text` with whitespace collapsed, cut at a word to at most `limit` characters ending in "…"."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    cut = text.rfind(" ", 0, room + 1)
    head = text[:cut] if cut > room // 2 else text[: safe_cut(text, room)]
    return head.rstrip(" ,;:") + ELLIPSIS


def safe_cut(text: str, limit: int) -> int:
    """The largest index ≤ `limit` that splits no entity or `[n]` marker of `text`."""
    for match in _ATOM.finditer(text, max(0, limit - 12), limit + 12):
        if match.start() < limit < match.end():
            return match.start() or limit  # an atom at the very start is split rather than lost
    return limit
