"""Setting up a channel from the App Home: the "Set up a channel" button opens a form with the same
choices as `/lore channel …` (bot/admin/channel_setup.py), checked and audited the same way."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.admin import views
from bot.admin.channel_setup import SLACK_SOURCE
from bot.admin.views import Block
from knowledge.channels import PRESET_CHARS

if TYPE_CHECKING:
    from bot.admin.slash import SourceAdmin

log = logging.getLogger(__name__)

CHANNEL_VIEW = "lore_channel_setup"  # the form's callback id
HOME_CHANNEL = "lore_home_channel"  # the Home tab's button


def channel_button() -> Block:
    """The Home tab's "Set up a channel" button (admins only)."""
    text = {"type": "plain_text", "text": "Set up a channel", "emoji": True}
    return {"type": "button", "text": text, "action_id": HOME_CHANNEL, "value": "channel"}


def channel_modal(sources: list[str]) -> Block:
    """The form: a channel, its sources (none picked = every source), when it answers, privately or not,
    and a preset."""

    def plain(text: str) -> dict[str, Any]:
        return {"type": "plain_text", "text": text, "emoji": True}

    def option(label: str, value: str) -> dict[str, Any]:
        return {"text": plain(label), "value": value}

    def choice(block_id: str, label: str, options: list[tuple[str, str]]) -> Block:
        element = {
            "type": "static_select",
            "action_id": "value",
            "options": [option(a, b) for a, b in options],
            "initial_option": option(*options[0]),
        }
        return {"type": "input", "block_id": block_id, "label": plain(label), "element": element}

    picked = [*sources, SLACK_SOURCE]
    return {
        "type": "modal",
        "callback_id": CHANNEL_VIEW,
        "title": plain("Set up a channel"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "channel",
                "label": plain("Channel"),
                "element": {
                    "type": "conversations_select",
                    "action_id": "value",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
            {
                "type": "input",
                "block_id": "sources",
                "optional": True,
                "label": plain("Answers from (none picked: every source)"),
                "element": {
                    "type": "multi_static_select",
                    "action_id": "value",
                    "options": [option(s, s) for s in picked[:100]],
                },
            },
            choice(
                "answers",
                "Answers",
                [("When mentioned", "mentions"), ("Every question asked here", "questions")],
            ),
            choice(
                "private",
                "Answers go",
                [("In the thread", "off"), ("Only to the asker (they may share)", "on")],
            ),
            {
                "type": "input",
                "block_id": "preset",
                "optional": True,
                "label": plain("How to write (tone, language; LLM only)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": PRESET_CHARS,
                },
            },
        ],
    }


async def open_form(admin: SourceAdmin, body: dict[str, Any]) -> None:
    """The Home tab's button: the form, for an admin (anyone else gets a fresh Home without it)."""
    team, user = views.who(body, admin.team_id)
    if admin.channels is None or admin.registry is None or not await admin.admins.check(team, user):
        await admin.publish_home(team, user)
        return
    sources = [r.source.id for r in await admin.registry.all()]
    try:
        await admin.client.views_open(trigger_id=str(body.get("trigger_id")), view=channel_modal(sources))
    except SlackApiError as exc:
        log.warning("channel form not opened: %s", exc.response.get("error"))


async def submit_form(admin: SourceAdmin, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
    """A submitted form: errors go back into it; a good one is saved (and audited), and the Home redrawn."""
    team, user = views.who(body, admin.team_id)
    if admin.channels is None or not await admin.admins.check(team, user):
        await ack(response_action="errors", errors={"channel": "Only Lore admins set up channels."})
        return
    saved = await admin.channels.form(views.form_values(body.get("view") or {}), user)
    if isinstance(saved, dict):
        await ack(response_action="errors", errors=saved)
        return
    await ack()
    await admin.publish_home(team, user)
