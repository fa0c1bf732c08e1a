"""One running bot: the Slack client, the shared store, the knowledge base and the bolt app, opened from
the settings and closed by their owner; served over HTTP (`/slack/events`) or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_app
from bot.feedback import Feedback
from bot.identity import Identity
from bot.memory import ConversationMemory
from bot.questions import Answering
from knowledge.apikeys import ApiKeys
from knowledge.audit import AuditLog
from knowledge.directory import DirectoryFile
from knowledge.jobs import Jobs
from knowledge.kv.base import KeyValue
from knowledge.kv.factory import open_store
from knowledge.metrics import Metrics, code
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Registry

log = logging.getLogger(__name__)

SLACK_TIMEOUT = 10  # seconds per Web API call
READY_TIMEOUT = 3.0


class SlackSetupError(RuntimeError):
    """Slack credentials are missing or rejected; the message says which and how to fix it."""


class SlackCounter(AsyncRetryHandler):
    """Counts failed Web API calls and 429s, never retries. It goes first among the retry handlers: the
    client shows every response (and connection error) to them in turn, and bolt's per-request clients
    share them, so every call of the process is counted."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = code(request.url.split("?")[0].rsplit("/", 1)[-1])
        status = response.status_code if response is not None else 0
        body: Any = response.body if response is not None else None
        if status == 429:
            self.metrics.slack_rate_limited.labels(method=method).inc()
        elif error is not None:
            self.metrics.slack_api_errors.labels(
                method=method, error=code(type(error).__name__.lower())
            ).inc()
        elif isinstance(body, dict) and body.get("ok") is False:
            self.metrics.slack_api_errors.labels(method=method, error=code(body.get("error"))).inc()
        elif status >= 400:
            self.metrics.slack_api_errors.labels(method=method, error=f"http_{status}").inc()
        return False


def slack_client(settings: Settings, metrics: Metrics | None = None) -> AsyncWebClient:
    """A Web API client for `LORE_SLACK_API_URL` that waits out 429s (Retry-After) and retries resets;
    with `metrics`, failed calls and 429s are counted."""
    if settings.slack_bot_token is None:
        raise SlackSetupError(
            "SLACK_BOT_TOKEN is not set: create the app from deploy/slack-manifest.yml, install it and copy "
            "its Bot User OAuth Token (xoxb-…); README, 'Connect to Slack'. Without Slack, try `lore chat`."
        )
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=[
            *([SlackCounter(metrics)] if metrics is not None else []),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


class BotRuntime:
    """Everything one bot process (or one test replica) needs; `close()` releases what it opened."""

    def __init__(
        self,
        settings: Settings,
        kb: Knowledge,
        store: KeyValue,
        client: AsyncWebClient,
        *,
        bot_user_id: str,
        team_id: str,
        owns: tuple[bool, bool] = (True, True),
        registry: Registry | None = None,
        audit: AuditLog | None = None,
        jobs: Jobs | None = None,
        keys: ApiKeys | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.kb = kb
        self.store = store
        self.client = client
        self._owns_kb, self._owns_store = owns
        self.memory = ConversationMemory(store, ttl=settings.memory_ttl, max_tokens=settings.memory_tokens)
        self.feedback = Feedback(store, self.metrics)
        self.identity = Identity(
            client,
            store,
            DirectoryFile(settings.directory_file),
            ttl=settings.identity_ttl,
            max_members=settings.audience_max_members,
            bot_user_id=bot_user_id,
            everyone=settings.everyone_grants,
            trusted_bots=settings.trusted_bots,
        )
        self.answering = Answering(
            kb, store, self.identity, self.memory, self.feedback, settings, self.metrics
        )
        self.app: AsyncApp = build_app(
            settings,
            client,
            store,
            self.answering,
            self.memory,
            self.feedback,
            bot_user_id=bot_user_id,
            team_id=team_id,
            registry=registry,
            audit=audit,
            jobs=jobs,
            keys=keys,
        )
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        kb: Knowledge | None = None,
        store: KeyValue | None = None,
        registry: Registry | None = None,
        audit: AuditLog | None = None,
        jobs: Jobs | None = None,
        keys: ApiKeys | None = None,
        metrics: Metrics | None = None,
    ) -> BotRuntime:
        """Check the bot token (auth.test), then open what was not given. Sources are managed from Slack
        only with a `registry`, an `audit` log and `jobs`, API keys only with `keys` and `audit` (they stay
        their owner's to close). `metrics` (default: new ones) count what this process does."""
        metrics = metrics or Metrics()
        client = slack_client(settings, metrics)
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            raise SlackSetupError(
                f"Slack rejected SLACK_BOT_TOKEN ({exc.response.get('error')}): copy the Bot User OAuth "
                "Token (xoxb-…) of the installed app again"
            ) from exc
        owns = (kb is None, store is None)
        kb = kb or await Knowledge.open(settings)
        store = store or open_store(settings)
        return cls(
            settings,
            kb,
            store,
            client,
            bot_user_id=str(auth["user_id"]),
            team_id=str(auth.get("team_id") or ""),
            owns=owns,
            registry=registry,
            audit=audit,
            jobs=jobs,
            keys=keys,
            metrics=metrics,
        )

    def web_app(self, *, events: bool = True) -> web.Application:
        """`POST /slack/events` (when serving HTTP), `GET /healthz`, `GET /readyz` and `GET /metrics`
        (Prometheus: counts and timings, no text; let the load balancer route only /slack/events publicly)."""
        app = web.Application()
        if events:
            app.router.add_post("/slack/events", self._events)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self.metrics.handler())
        return app

    async def _events(self, request: web.Request) -> web.Response:
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        checks: dict[str, str] = {}
        for name, probe in (("store", self.store.ping()), ("index", self.kb.index.count())):
            try:
                await asyncio.wait_for(probe, READY_TIMEOUT)
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the body says which
                checks[name] = f"failed: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def serve_http(
        self, host: str = "0.0.0.0", port: int | None = None, *, events: bool = True
    ) -> None:
        """Serve the web app (events and probes) until `close()`."""
        self._runner = web.AppRunner(self.web_app(events=events), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port or self.settings.http_port).start()

    async def connect_socket_mode(self) -> None:
        """Receive events over Socket Mode with `SLACK_APP_TOKEN` (no public URL needed)."""
        if self.settings.slack_app_token is None:
            raise SlackSetupError(
                "SLACK_APP_TOKEN is not set: Socket Mode needs the app-level token (xapp-…)"
            )
        self._socket = AsyncSocketModeHandler(
            self.app, self.settings.slack_app_token.get_secret_value(), web_client=self.client
        )
        await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def close(self, drain: float = 30.0) -> None:
        """Stop taking events, let running answers finish (up to `drain` seconds), then release."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            await self._runner.cleanup()
        await self.answering.drain(drain)
        if self._owns_store:
            await self.store.close()
        if self._owns_kb:
            await self.kb.close()

    async def __aenter__(self) -> BotRuntime:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
