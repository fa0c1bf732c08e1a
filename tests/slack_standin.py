"""A local Slack Web API (and Socket Mode) server for tests, over real HTTP on a free port of 127.0.0.1.

    async with SlackStandin() as slack:
        slack.add_user("U1", "ann@example.com")
        client = AsyncWebClient(base_url=slack.api_url, token="xoxb-test")
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.calls_to("chat.postMessage")[0].args["text"] == "hi"

`POST|GET /api/<method>` takes form, JSON or query arguments, records a `Call` and answers with the shapes
Slack documents for the methods the bot uses (anything else: `unknown_method`). `fail()` injects errors and
429s, `add_user`/`add_channel`/`add_usergroup` set up the workspace, `messages()` shows what the bot posted
or streamed. `GET /socket` is the Socket Mode endpoint (tests/socket_standin.py), `/response/<name>` a
response_url. `signed_request`, `event_body`, `command_body` and `action_body` build HTTP requests to the bot.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.conftest import free_port
from tests.slack_model import (
    Call,
    Failure,
    Message,
    Result,
    chunk_text,
    error_result,
    task_chunks,
)
from tests.slack_requests import action_body, command_body, event_body, signed_request
from tests.slack_rts import SearchMethods
from tests.slack_workspace import WorkspaceMethods
from tests.socket_standin import APP_ID, SocketModeStandin

__all__ = [
    "Call",
    "Message",
    "SlackStandin",
    "action_body",
    "command_body",
    "dead_api_url",
    "event_body",
    "signed_request",
]

JSON_ARGS = ("blocks", "chunks", "prompts", "attachments", "view", "metadata")


def dead_api_url() -> str:
    """A Slack API base URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/api/"


class SlackStandin(WorkspaceMethods, SearchMethods, SocketModeStandin):
    """The stand-in server: workspace model, recorded calls, posted and streamed messages."""

    def __init__(self) -> None:
        super().__init__()  # the workspace, then Socket Mode
        self.calls: list[Call] = []
        self._messages: list[Message] = []
        self._failures: dict[str, Failure] = {}
        self._clock = 1_700_000_000_000_000  # microseconds; every ts is 100 µs after the last
        self._views = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.api_url = ""
        self.socket_url = ""
        self._methods: dict[str, Callable[[dict[str, Any]], Result]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "usergroups.list": self._usergroups_list,
            "conversations.members": self._conversations_members,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": lambda args: {"ok": True, "message_ts": self._next_ts()},
            "chat.delete": self._delete,
            "chat.startStream": self._start_stream,
            "chat.appendStream": self._append_stream,
            "chat.stopStream": self._stop_stream,
            "views.open": self._view,
            "views.publish": self._view,
            "views.update": self._view,
            "apps.connections.open": lambda args: {"ok": True, "url": self.socket_url},
            "assistant.search.context": self._search_context,
        }
        for method in ("setStatus", "setSuggestedPrompts", "setTitle"):
            self._methods[f"assistant.threads.{method}"] = lambda args: {"ok": True}
        for method in ("reactions.add", "reactions.remove"):
            self._methods[method] = lambda args: {"ok": True}

    # ----- lifecycle

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns `api_url` (ending in /api/)."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_url}/api/"
        self.socket_url = f"ws://127.0.0.1:{port}/socket"
        return self.api_url

    async def close(self) -> None:
        """Close Socket Mode connections and stop the server."""
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandin:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ----- configuration and queries for tests

    def add_message(
        self, channel: str, text: str, *, user: str, ts: str | None = None, thread_ts: str | None = None
    ) -> Message:
        """A message somebody else posted (e.g. a user's question), so conversations.replies can return it."""
        message = Message(channel, ts or self._next_ts(), text, thread_ts, user=user)
        self._messages.append(message)
        return message

    def fail(
        self,
        method: str,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int = 1,
        times: int | None = 1,
    ) -> None:
        """The next `times` calls to `method` (None: all of them) answer `{"ok": false, "error": error}` with
        HTTP `status`; a 429 carries `Retry-After: retry_after`."""
        self._failures[method] = Failure(error, status, retry_after, times)

    def forget(self) -> None:
        """Forget every recorded call and message (the workspace stays)."""
        self.calls.clear()
        self._messages.clear()

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:  # noqa: ASYNC109
        """The calls to `method` once there are at least `count`; TimeoutError after `timeout` seconds."""

        def received() -> str:
            seen = ", ".join(f"{m} x{n}" for m, n in Counter(c.method for c in self.calls).items())
            return f"expected {count} call(s) to {method} within {timeout} s; received: {seen or 'nothing'}"

        await self._until(lambda: len(self.calls_to(method)) >= count, timeout, received)
        return self.calls_to(method)

    async def wait_until(
        self, predicate: Callable[[], bool], what: str = "the condition", seconds: float = 10.0
    ) -> None:
        """Wait (re-checking after every call) until `predicate()` holds; TimeoutError names `what`."""
        await self._until(predicate, seconds, lambda: f"{what} did not happen within {seconds} s")

    def messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[Message]:
        """Known messages, oldest first; with `thread_ts`, that thread's parent and replies."""
        return sorted(
            (
                m
                for m in self._messages
                if (channel is None or m.channel == channel)
                and (thread_ts is None or thread_ts in (m.thread_ts, m.ts))
            ),
            key=lambda m: float(m.ts),
        )

    def replies_in(self, channel: str, thread_ts: str) -> list[Message]:
        """The messages in a thread except its parent."""
        return [m for m in self.messages(channel, thread_ts) if m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self._messages if m.channel == channel and m.ts == ts), None)

    def response_url(self, name: str = "r1") -> str:
        """A response_url whose POSTs are recorded as calls to method "response_url"."""
        return f"{self.base_url}/response/{name}"

    # ----- HTTP

    def _next_ts(self) -> str:
        self._clock += 100
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                args.update(body if isinstance(body, dict) else {})
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key in JSON_ARGS:
            value = args.get(key)
            if isinstance(value, str) and value.startswith(("[", "{")):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args

    async def _record(self, method: str, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """Record the call; the injected failure response, if one is due."""
        args = await self._args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop("token", None)
        self.calls.append(Call(method, args, token, time.monotonic(), request.path))
        await self._notify()
        failure = self._failures.get(method)
        if failure is None or failure.remaining == 0:
            return args, None
        if failure.remaining is not None:
            failure.remaining -= 1
        headers = {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
        return args, web.json_response(error_result(failure.error), status=failure.status, headers=headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, failure = await self._record(method, request)
        if failure is not None:
            return failure
        handler = self._methods.get(method)
        return web.json_response(
            handler(args) if handler else {**error_result("unknown_method"), "req_method": method}
        )

    async def _response_url(self, request: web.Request) -> web.Response:
        _, failure = await self._record("response_url", request)
        return failure or web.json_response({"ok": True})

    # ----- Web API methods

    def _auth_test(self, args: dict[str, Any]) -> Result:
        return {
            "ok": True,
            "url": "https://standin.slack.com/",
            "team": "Stand-in Workspace",
            "user": "lore",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _conversations_replies(self, args: dict[str, Any]) -> Result:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if channel not in self.channels and not self.messages(channel):
            return error_result("channel_not_found")
        found = [
            m.api(self.bot_id if m.user == self.bot_user_id else None) for m in self.messages(channel, ts)
        ]
        return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _post_message(self, args: dict[str, Any]) -> Result:
        if not args.get("channel"):
            return error_result("channel_not_found")
        if not args.get("text") and not args.get("blocks"):
            return error_result("no_text")
        thread_ts = args.get("thread_ts") or None
        message = Message(str(args["channel"]), self._next_ts(), str(args.get("text") or ""), thread_ts)
        message.blocks, message.user = args.get("blocks"), self.bot_user_id
        self._messages.append(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.api(self.bot_id)}

    def _update(self, args: dict[str, Any]) -> Result:
        message = self.message(str(args.get("channel", "")), str(args.get("ts", "")))
        if message is None:
            return error_result("message_not_found")
        if "text" in args:
            message.text = str(args["text"])
        if "blocks" in args:
            message.blocks = args["blocks"]
        found = {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}
        return found | {"message": message.api(self.bot_id)}

    def _delete(self, args: dict[str, Any]) -> Result:
        message = self.message(str(args.get("channel", "")), str(args.get("ts", "")))
        if message is None:
            return error_result("message_not_found")
        self._messages.remove(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _start_stream(self, args: dict[str, Any]) -> Result:
        channel = str(args.get("channel", ""))
        if not channel or not args.get("thread_ts"):
            return error_result("invalid_arguments")
        if not channel.startswith("D") and not (
            args.get("recipient_team_id") and args.get("recipient_user_id")
        ):
            return error_result(
                "invalid_arguments"
            )  # outside a DM Slack wants to know whom the stream is for
        tasks = task_chunks(args)
        if tasks is None:
            return error_result("invalid_arguments")
        message = Message(channel, self._next_ts(), chunk_text(args), str(args["thread_ts"]), streaming=True)
        message.tasks.update({task["id"]: task for task in tasks})
        message.user = self.bot_user_id
        self._messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _streaming(self, args: dict[str, Any]) -> Message | Result:
        message = self.message(str(args.get("channel", "")), str(args.get("ts", "")))
        if message is None:
            return error_result("message_not_found")
        if not message.streaming:
            return error_result("message_not_in_streaming_state")
        tasks = task_chunks(args)
        if tasks is None:
            return error_result("invalid_arguments")
        message.tasks.update({task["id"]: task for task in tasks})
        message.text += chunk_text(args)
        return message

    def _append_stream(self, args: dict[str, Any]) -> Result:
        message = self._streaming(args)
        if not isinstance(message, Message):
            return message
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _stop_stream(self, args: dict[str, Any]) -> Result:
        message = self._streaming(args)
        if not isinstance(message, Message):
            return message
        message.streaming = False
        if args.get("blocks"):
            message.blocks = args["blocks"]
        return {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.api(self.bot_id)}

    def _view(self, args: dict[str, Any]) -> Result:
        view = args.get("view")
        view = view if isinstance(view, dict) else {}
        view_id = args.get("view_id")
        if not view_id:
            self._views += 1
            view_id = f"V{self._views:07d}"
        out = {"id": view_id, "team_id": self.team_id, "app_id": APP_ID, "bot_id": self.bot_id, **view}
        return {"ok": True, "view": out | {"hash": f"{time.time():.6f}"}}


# ----- requests to the bot, as Slack sends them
