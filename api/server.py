"""The Knowledge API over HTTP (aiohttp): `POST /v1/search`, `POST /v1/answer` (JSON, or server-sent events),
`GET /openapi.json`, `GET /healthz` and `GET /metrics`. Every `/v1` request is admitted by its API key and
answered under that key's principal; every error is an `ApiError` that says how to fix it. Every response
carries its request id (`X-Request-Id`, the caller's own if it sent a plain one), which tags the log lines.

`/metrics` (Prometheus) needs no key: it shows counts and timings, never a question or a key, but keep it off
public addresses (let only the scraper reach it, e.g. with a network policy or the proxy in front)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api import queries
from api.auth import Gate, Refusal
from api.openapi import SSE, openapi_document
from api.schemas import AnswerRequest, ApiError, Delta, ErrorCode, FieldError, SearchRequest
from knowledge.answering.llm import LLMError
from knowledge.apikeys import ApiKey
from knowledge.embedding.base import EmbeddingError
from knowledge.federation import HOP_HEADER
from knowledge.index.base import IndexUnavailable
from knowledge.kv.base import StoreUnavailable
from knowledge.logs import request_context, usable_id
from knowledge.metrics import Metrics
from knowledge.service import Knowledge
from knowledge.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024  # above the largest valid request (10 turns, all escaped)
KEY = web.RequestKey("api_key", ApiKey)
REQUEST_ID = web.RequestKey("request_id", str)
ROUTES = frozenset({"/v1/search", "/v1/answer", "/openapi.json", "/healthz", "/metrics"})  # metric labels
UNAVAILABLE = (IndexUnavailable, EmbeddingError, StoreUnavailable, LLMError)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _version() -> str:
    try:
        return version("lore")
    except PackageNotFoundError:
        return "0"


def error(
    status: int,
    code: ErrorCode,
    message: str,
    fields: list[FieldError] | None = None,
    retry: int | None = None,
) -> web.Response:
    """An `ApiError` response."""
    body = ApiError(error=code, message=message, fields=fields or [])
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return web.json_response(body.model_dump(), status=status, headers=headers)


def unavailable(exc: BaseException) -> str:
    """What to tell a caller when a service behind the API fails (the details go to the log only)."""
    what = {
        IndexUnavailable: "the search index is unreachable",
        EmbeddingError: "the embedding service is unreachable",
        StoreUnavailable: "the shared store (Redis) is unreachable",
        LLMError: "the language model is unreachable",
    }
    reason = next((text for kind, text in what.items() if isinstance(exc, kind)), "answering took too long")
    return f"Lore cannot answer right now: {reason}. Try again shortly."


def _refused(refusal: Refusal) -> web.Response:
    response = error(refusal.status, refusal.code, refusal.message, retry=refusal.retry_after)  # type: ignore[arg-type]
    if refusal.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lore"'
    return response


def _invalid(exc: ValidationError) -> web.Response:
    fields = [
        FieldError(field=".".join(str(p) for p in e["loc"]) or "body", message=e["msg"]) for e in exc.errors()
    ]
    names = ", ".join(f.field for f in fields)
    return error(422, "invalid_request", f"fix these fields: {names} (see /openapi.json)", fields)


class KnowledgeApi:
    """The API's routes over one knowledge base, one key store gate and the settings; `metrics` (default:
    new ones) count requests, questions and answers."""

    def __init__(self, kb: Knowledge, gate: Gate, settings: Settings, metrics: Metrics | None = None) -> None:
        self.kb = kb
        self.gate = gate
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.document = openapi_document(_version())

    def app(self) -> web.Application:
        """The aiohttp application (mountable beside other routes)."""
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.router.add_post("/v1/search", self._search)
        app.router.add_post("/v1/answer", self._answer)
        app.router.add_get("/openapi.json", self._openapi)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self.metrics.handler())
        app.on_response_prepare.append(self._prepared)
        return app

    async def _prepared(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every response (errors and streams too): its request id, and a count by route and status."""
        if REQUEST_ID in request:
            response.headers["X-Request-Id"] = request[REQUEST_ID]
        path = request.path if request.path in ROUTES else "other"
        self.metrics.api_requests.labels(path=path, status=str(response.status)).inc()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Give the request an id (its log lines' and its errors' reference), then `_admit` it."""
        with request_context(usable_id(request.headers.get("X-Request-Id"))) as request_id:
            request[REQUEST_ID] = request_id
            return await self._admit(request, handler, request_id)

    async def _admit(self, request: web.Request, handler: Handler, ref: str) -> web.StreamResponse:
        """Admit `/v1` requests by key; turn failures into `ApiError`s (with a reference id in the log)."""
        started = time.monotonic()
        key: ApiKey | None = None
        try:
            if request.path.startswith("/v1/"):
                admitted = await self.gate.admit(request.headers.get("Authorization"))
                if isinstance(admitted, Refusal):
                    return _refused(admitted)
                key = admitted
                request[KEY] = key
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status == 413:
                return error(413, "invalid_request", f"the body is larger than {MAX_BODY // 1024} KB")
            raise
        except UNAVAILABLE as exc:
            log.warning("%s %s: unavailable: %s", request.method, request.path, exc)
            return error(503, "unavailable", unavailable(exc), retry=30)
        except TimeoutError:
            return error(
                503,
                "unavailable",
                "the answer took too long; try again, or ask a narrower question",
                retry=10,
            )
        except Exception:
            log.exception("%s %s failed (reference %s)", request.method, request.path, ref)
            return error(500, "internal", f"Lore failed on its side (reference {ref}); tell whoever runs it")
        log.info(
            "%s %s %d key=%s %.0f ms",
            request.method,
            request.path,
            response.status,
            key.id if key else "-",
            1000 * (time.monotonic() - started),
        )
        return response

    async def _body(self, request: web.Request, model: type[BaseModel]) -> BaseModel | web.Response:
        raw = await request.read()
        try:
            data: Any = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            return error(400, "invalid_json", 'the body must be a JSON object, e.g. {"query": "…"}')
        if not isinstance(data, dict):
            return error(400, "invalid_json", 'the body must be a JSON object, e.g. {"query": "…"}')
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            return _invalid(exc)

    async def _search(self, request: web.Request) -> web.Response:
        body = await self._body(request, SearchRequest)
        if isinstance(body, web.Response):
            return body
        assert isinstance(body, SearchRequest)
        async with asyncio.timeout(self.settings.answer_timeout):
            with self.metrics.retrieval_seconds.time():
                found = await queries.search(
                    self.kb, request[KEY].principal, body, federate=_first_hop(request)
                )
        return web.json_response(found.model_dump(mode="json"))

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request, AnswerRequest)
        if isinstance(body, web.Response):
            return body
        assert isinstance(body, AnswerRequest)
        key: ApiKey = request[KEY]
        self.metrics.questions.labels(where="api").inc()
        started = time.monotonic()
        if body.stream or SSE in request.headers.get("Accept", ""):
            return await self._answer_events(request, key, body, started)
        async with asyncio.timeout(self.settings.answer_timeout):
            answer = await queries.answer(self.kb, key.principal, body, federate=_first_hop(request))
        self.metrics.answered(answer.mode, time.monotonic() - started)
        return web.json_response(answer.model_dump(mode="json"))

    async def _answer_events(
        self, request: web.Request, key: ApiKey, body: AnswerRequest, started: float
    ) -> web.StreamResponse:
        """Server-sent events: `delta`s, then `final` (or `error` when answering fails midway)."""
        response = web.StreamResponse(headers={"Content-Type": SSE, "Cache-Control": "no-cache"})
        await response.prepare(request)
        shown = False
        try:
            async with asyncio.timeout(self.settings.answer_timeout):
                events = queries.answer_events(self.kb, key.principal, body, federate=_first_hop(request))
                async for event in events:
                    if not isinstance(event, Delta):
                        self.metrics.answered(event.mode, time.monotonic() - started)
                    elif not shown:
                        self.metrics.first_token_seconds.observe(time.monotonic() - started)
                        shown = True
                    name = "delta" if isinstance(event, Delta) else "final"
                    await response.write(_sse(name, event))
        except (*UNAVAILABLE, TimeoutError) as exc:
            log.warning("streamed answer failed: %s", exc)
            failure = ApiError(error="unavailable", message=unavailable(exc))
            await response.write(_sse("error", failure))
        except Exception:  # the stream has begun: the failure must be an event, not a status
            ref = request[REQUEST_ID]
            log.exception("streamed answer failed (reference %s)", ref)
            failure = ApiError(error="internal", message=f"Lore failed on its side (reference {ref})")
            await response.write(_sse("error", failure))
        await response.write_eof()
        return response

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self.document)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def _first_hop(request: web.Request) -> bool:
    """False when another Lore federated this question (`X-Lore-Hop`): it is answered from this index
    only, never federated again, so two deployments that are each other's remotes cannot loop."""
    return HOP_HEADER not in request.headers


def _sse(name: str, model: BaseModel) -> bytes:
    return f"event: {name}\ndata: {model.model_dump_json()}\n\n".encode()
