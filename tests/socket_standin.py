"""The Socket Mode half of the Slack stand-in: a WebSocket endpoint that speaks the envelope protocol.

`SlackStandin` (tests/slack_standin.py) inherits this and serves `GET /socket` from the same server, so
`apps.connections.open` can hand the socket URL to slack_sdk's aiohttp `SocketModeClient`:

    envelope_id = await slack.send_envelope("events_api", event_body({...}, event_id="Ev1"))
    ack = await slack.wait_for_ack(envelope_id)

On connect the stand-in sends `hello`; every message the client sends back that carries an `envelope_id` is
an ack and lands in `acks`. aiohttp answers the client's pings itself (autoping).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

APP_ID = "A1"
# Interactive payloads whose ack may carry a response (errors, options, a new view); block_actions may not.
RESPONDING_INTERACTIONS = {"view_submission", "block_suggestion"}


class SocketModeStandin:
    """WebSocket side: connected clients, envelopes sent, acks received."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.envelopes: list[dict[str, Any]] = []
        self.connections = 0  # how many WebSocket connections were ever opened (reconnects count)
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _until(self, predicate: Callable[[], bool], seconds: float, what: Callable[[], str]) -> None:
        """Wait on the shared condition until `predicate()` holds; TimeoutError says `what()` otherwise."""
        try:
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise TimeoutError(what()) from None

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {
                    "host": "standin-applink",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if isinstance(data, dict) and "envelope_id" in data:
                    self.acks.append(data)
                    await self._notify()
        finally:
            self._sockets.remove(ws)
            await self._notify()
        return ws

    async def _connected(self, seconds: float) -> web.WebSocketResponse:
        await self._until(
            lambda: bool(self._sockets), seconds, lambda: f"no Socket Mode client in {seconds} s"
        )
        return self._sockets[-1]

    async def send_envelope(
        self,
        payload_type: str,
        payload: dict[str, Any],
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        *,
        accepts_response_payload: bool | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> str:
        """Send one envelope ("events_api" | "slash_commands" | "interactive") to the newest connected
        client, waiting up to `timeout` for one to connect; returns the envelope id."""
        ws = await self._connected(timeout)
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = payload_type == "slash_commands" or (
                payload_type == "interactive" and payload.get("type") in RESPONDING_INTERACTIONS
            )
        envelope = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
            "payload": payload,
        }
        self.envelopes.append(envelope)
        await ws.send_json(envelope)
        return envelope_id

    async def send_disconnect(self, reason: str = "refresh_requested", timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Ask the connected client to reconnect, as Slack does every few hours."""
        ws = await self._connected(timeout)
        await ws.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin-applink"}}
        )

    def ack_for(self, envelope_id: str) -> dict[str, Any] | None:
        """The first ack received for `envelope_id`, if any."""
        return next((ack for ack in self.acks if ack.get("envelope_id") == envelope_id), None)

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The ack for `envelope_id` (`{"envelope_id", "payload"?}`), waiting up to `timeout` seconds."""
        await self._until(
            lambda: self.ack_for(envelope_id) is not None,
            timeout,
            lambda: (
                f"no ack for {envelope_id} in {timeout} s; acks: {[a.get('envelope_id') for a in self.acks]}"
            ),
        )
        ack = self.ack_for(envelope_id)
        assert ack is not None
        return ack

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"stand-in shutting down")
