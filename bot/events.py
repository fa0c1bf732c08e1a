"""Slack events read into the one shape Lore answers: who asked what, where, and in which thread."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Surface = Literal["mention", "dm", "assistant", "follow_up"]

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
# message subtypes that are not a person writing something new
_IGNORED_SUBTYPES = frozenset(
    {
        "bot_message",
        "message_changed",
        "message_deleted",
        "message_replied",
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "assistant_app_thread",
        "ekm_access_denied",
    }
)


class Asked(BaseModel):
    """A question to answer. `thread_ts` is the thread the answer goes into."""

    model_config = ConfigDict(frozen=True)

    team: str
    channel: str
    channel_type: str
    user: str
    text: str
    ts: str
    thread_ts: str
    surface: Surface
    event_id: str | None = None
    action_token: str | None = None  # Slack's short-lived token for searching Slack as the asker
    share_to: str | None = None  # a private answer to a channel question: the channel it may be shared in
    share_thread: str | None = None  # … and its thread

    @property
    def private(self) -> bool:
        """True when only the asker reads the reply (a DM or the assistant pane)."""
        return self.surface in ("dm", "assistant") or self.channel_type == "im"


def mentioned(text: str) -> set[str]:
    """User ids mentioned in a message."""
    return set(_MENTION.findall(text or ""))


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """The question without Lore's own mention (other mentions stay, as plain names matter)."""
    if not bot_user_id:
        return (text or "").strip()
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text or "").strip()


def from_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """True for a message a person wrote (not a bot, not Lore, not an edit or a join notice)."""
    if event.get("bot_id") or event.get("bot_profile") or not event.get("user"):
        return False
    if bot_user_id and event.get("user") == bot_user_id:
        return False
    return event.get("subtype") not in _IGNORED_SUBTYPES


def read_event(
    event: dict[str, Any], *, surface: Surface, team: str, bot_user_id: str | None, event_id: str | None
) -> Asked | None:
    """The question in an event, or None when there is nothing to answer."""
    if not from_person(event, bot_user_id):
        return None
    text = strip_mentions(str(event.get("text") or ""), bot_user_id)
    if not text:
        return None
    ts = str(event.get("ts") or "")
    return Asked(
        team=team,  # the workspace (event["team"] may be a Slack Connect guest's own)
        channel=str(event.get("channel") or ""),
        channel_type=str(
            event.get("channel_type") or ("im" if surface in ("dm", "assistant") else "channel")
        ),
        user=str(event["user"]),
        text=text,
        ts=ts,
        thread_ts=str(event.get("thread_ts") or ts),
        surface=surface,
        event_id=event_id,
        action_token=_action_token(event),
    )


def _action_token(event: dict[str, Any]) -> str | None:
    """The `action_token` Slack sends with a message event to an AI app, for the Real-time Search API
    (`assistant.search.context` on the asker's behalf): docs.slack.dev, "Using the Real-time Search API"."""
    token = event.get("action_token") or (event.get("assistant_thread") or {}).get("action_token")
    return str(token) if token else None
