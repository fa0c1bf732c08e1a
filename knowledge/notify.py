"""Telling an admin in Slack how the job they asked for ended: a direct message from the bot.

Best effort by design: without a bot token, or when Slack fails, the outcome is still on the source's status
(`/lore sources`), so a failed notification is logged and never raised into the job that sent it.
"""

from __future__ import annotations

import logging
import re

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from knowledge.settings import Settings

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 10  # seconds per Web API call
SLACK_USER = re.compile(r"^[UW][A-Z0-9]+$")  # requests from the CLI say "cli": nobody to tell


async def tell(settings: Settings, user_id: str | None, text: str) -> bool:
    """DM `text` to Slack user `user_id`; True when Slack took it. A no-op without a bot token."""
    if settings.slack_bot_token is None or not user_id or not SLACK_USER.match(user_id):
        log.debug("not telling %r (no bot token or not a Slack user): %s", user_id, text)
        return False
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=NOTIFY_TIMEOUT,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s (Slack said %s)", user_id, exc.response.get("error"))
        log.debug("what %s was not told: %s", user_id, text)
        return False
    except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
        log.warning("could not tell %s (%s: %s)", user_id, type(exc).__name__, exc)
        log.debug("what %s was not told: %s", user_id, text)
        return False
    return True
