"""Requests to the bot as Slack sends them: signed with the real `SignatureVerifier`, events, slash
commands and interactivity payloads."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.socket_standin import APP_ID

Result = dict[str, Any]


def signed_request(
    body: str,
    secret: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/json",
    retry_num: int | None = None,
) -> dict[str, str]:
    """Headers for an HTTP request to the bot carrying `body`, signed with `secret` like Slack does."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    headers = {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def event_body(
    event: dict[str, Any], *, event_id: str, team_id: str = "T1", api_app_id: str = APP_ID
) -> Result:
    """An Events API `event_callback` envelope around `event`."""
    return {
        "token": "verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team_id, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }


def command_body(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str = "C1",
    team_id: str = "T1",
    response_url: str = "",
) -> str:
    """A form-encoded slash command request body."""
    return urllib.parse.urlencode(
        {
            "token": "verification-token",
            "team_id": team_id,
            "team_domain": "standin",
            "channel_id": channel_id,
            "channel_name": channel_id.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1337.42.standin",
        }
    )


def action_body(payload: dict[str, Any]) -> str:
    """A form-encoded interactivity request body: `payload=<json>`."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})
