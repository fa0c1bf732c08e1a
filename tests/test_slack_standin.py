"""The Slack stand-in works with the real slack_sdk client and slack_bolt's Socket Mode adapter."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack_standin import SlackStandin, event_body, signed_request


def client_for(slack: SlackStandin, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(base_url=slack.api_url, token="xoxb-test", **kwargs)


async def test_post_then_update_is_recorded() -> None:
    async with SlackStandin() as slack:
        client = client_for(slack)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
        posted = await client.chat_postMessage(channel="C1", text="hi", blocks=blocks, thread_ts="1.0")
        await client.chat_update(channel="C1", ts=posted["ts"], text="bye")

        assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.update"]
        assert slack.calls[0].token == "xoxb-test"
        assert slack.calls[0].args["blocks"] == blocks
        [message] = slack.replies_in("C1", "1.0")
        assert (message.ts, message.text, message.user) == (posted["ts"], "bye", "UBOT")
        with pytest.raises(SlackApiError, match="message_not_found"):
            await client.chat_update(channel="C1", ts="9.9", text="x")


async def test_ratelimited_call_is_retried_after_retry_after() -> None:
    async with SlackStandin() as slack:
        slack.fail("chat.postMessage", error="ratelimited", status=429, retry_after=1, times=1)
        client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])

        response = await client.chat_postMessage(channel="C1", text="hi")

        first, second = slack.calls_to("chat.postMessage")
        assert response["ok"] and second.at - first.at >= 1.0
        assert len(slack.messages("C1")) == 1


async def test_stream_assembles_text_and_needs_recipient_outside_dm() -> None:
    async with SlackStandin() as slack:
        client = client_for(slack)
        start = await client.chat_startStream(
            channel="C1", thread_ts="1.0", markdown_text="Hel", recipient_team_id="T1", recipient_user_id="U1"
        )
        await client.chat_appendStream(channel="C1", ts=start["ts"], markdown_text="lo ")
        await client.chat_stopStream(channel="C1", ts=start["ts"], markdown_text="world")

        [message] = slack.messages("C1", thread_ts="1.0")
        assert (message.text, message.streaming) == ("Hello world", False)
        with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
            await client.chat_appendStream(channel="C1", ts=start["ts"], markdown_text="!")
        with pytest.raises(SlackApiError, match="invalid_arguments"):
            await client.chat_startStream(channel="C1", thread_ts="1.0", markdown_text="x")
        slack.fail("chat.startStream", error="unknown_method", status=200, times=None)
        with pytest.raises(SlackApiError, match="unknown_method"):
            await client.chat_startStream(channel="D1", thread_ts="1.0", markdown_text="x")


async def test_members_are_paginated() -> None:
    async with SlackStandin() as slack:
        slack.add_channel("C1", ["U1", "U2", "U3", "U4", "U5"])
        members = []
        async for page in await client_for(slack).conversations_members(channel="C1", limit=2):
            members += page["members"]

        assert members == ["U1", "U2", "U3", "U4", "U5"]
        assert len(slack.calls_to("conversations.members")) == 3


async def test_workspace_lookups() -> None:
    async with SlackStandin() as slack:
        slack.add_user("U1", "ann@example.com", name="ann")
        slack.add_user("U2")
        slack.add_usergroup("S1", "eng", ["U1", "U2"])
        client = client_for(slack)

        assert (await client.auth_test())["user_id"] == "UBOT"
        assert (await client.users_info(user="U1"))["user"]["profile"]["email"] == "ann@example.com"
        assert "email" not in (await client.users_info(user="U2"))["user"]["profile"]
        with pytest.raises(SlackApiError, match="user_not_found"):
            await client.users_info(user="U9")
        [group] = (await client.usergroups_list(include_users=True))["usergroups"]
        assert (group["handle"], group["users"]) == ("eng", ["U1", "U2"])
        dm = await client.conversations_open(users="U1")
        info = await client.conversations_info(channel=dm["channel"]["id"])
        assert info["channel"]["is_im"] and info["channel"]["num_members"] == 2
        await slack.wait_for("conversations.info")
        with pytest.raises(TimeoutError, match=r"users\.info x3"):
            await slack.wait_for("chat.postMessage", timeout=0.1)


async def test_socket_mode_envelope_is_acked_after_handler_runs() -> None:
    async with SlackStandin() as slack:
        app = AsyncApp(client=client_for(slack))
        mentioned = asyncio.Event()

        @app.event("app_mention")
        async def on_mention(event: dict[str, Any]) -> None:
            mentioned.set()

        handler = AsyncSocketModeHandler(app, "xapp-test", web_client=AsyncWebClient(base_url=slack.api_url))
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.0"}
            envelope_id = await slack.send_envelope("events_api", event_body(event, event_id="Ev1"))

            assert (await slack.wait_for_ack(envelope_id)) == {"envelope_id": envelope_id}
            await asyncio.wait_for(mentioned.wait(), timeout=5)
            assert slack.calls_to("apps.connections.open")[0].token == "xapp-test"
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]


def test_signed_request_verifies() -> None:
    body = '{"type":"event_callback"}'
    headers = signed_request(body, "s3cret", retry_num=1)

    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert headers["X-Slack-Retry-Num"] == "1"


async def test_form_bodies_response_urls_and_unknown_methods() -> None:
    async with SlackStandin() as slack, aiohttp.ClientSession() as http:
        form = {"token": "xoxb-form", "channel": "C1", "blocks": '[{"type": "divider"}]'}
        async with http.post(slack.api_url + "chat.postMessage", data=form) as response:
            assert (await response.json())["ok"]
        async with http.post(slack.response_url("r1"), json={"text": "done"}) as response:
            assert response.status == 200
        with pytest.raises(SlackApiError, match="unknown_method"):
            await client_for(slack).api_call("files.upload.v9")

        posted, responded, unknown = slack.calls
        assert (posted.token, posted.args["blocks"]) == ("xoxb-form", [{"type": "divider"}])
        assert (responded.method, responded.args) == ("response_url", {"text": "done"})
        assert (responded.path, unknown.method) == ("/response/r1", "files.upload.v9")
