"""Prometheus metrics of one process (bot, worker or API), in a registry of its own, served at `/metrics`.

Label values come from small fixed sets (where a question was asked, an answer mode, a Slack method and
error code, a source id, an API route): never a user id, never a question's text.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

SECONDS = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)  # histogram buckets
OUTCOMES = ("added", "updated", "unchanged", "deleted", "failed")  # what a sync did with each document
_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")  # a Slack method or error code; anything else is "other"

Handler = Callable[[web.Request], Awaitable[web.Response]]


def code(value: object) -> str:
    """A Slack method or error code fit for a label: as Slack spells it, else `other`."""
    text = str(value or "")
    return text if _CODE.fullmatch(text) else "other"


class Metrics:
    """Every metric Lore exports, as attributes; each instance owns its registry (tests get fresh ones)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.questions = Counter(
            "lore_questions",
            "Questions taken, by where: channel, dm, assistant, api, mcp.",
            ["where"],
            registry=r,
        )
        self.answers = Counter(
            "lore_answers",
            "Answers given, by mode: generative, extractive, no_answer. The no-answer rate is "
            'lore_answers_total{mode="no_answer"} / sum(lore_answers_total).',
            ["mode"],
            registry=r,
        )
        self.answer_failures = Counter(
            "lore_answer_failures",
            "Questions answered with an apology instead: store, index, embedding, timeout, error.",
            ["reason"],
            registry=r,
        )
        self.second_searches = Counter(
            "lore_second_searches",
            "Questions whose first hits an LLM read to plan a second search (LORE_SECOND_SEARCH), by "
            "outcome: searched, or none (nothing to look up, or the plan failed: see the log).",
            ["outcome"],
            registry=r,
        )
        self.feedback = Counter("lore_feedback", "Votes on answers: up or down.", ["vote"], registry=r)
        self.retrieval_seconds = Histogram(
            "lore_retrieval_seconds",
            "Time to retrieve the sources of a question.",
            buckets=SECONDS,
            registry=r,
        )
        self.first_token_seconds = Histogram(
            "lore_first_token_seconds",
            "Time from a question to the first visible text of its answer.",
            buckets=SECONDS,
            registry=r,
        )
        self.answer_seconds = Histogram(
            "lore_answer_seconds", "Time from a question to its finished answer.", buckets=SECONDS, registry=r
        )
        self.slack_api_errors = Counter(
            "lore_slack_api_errors",
            "Slack Web API calls that failed (ok: false, or no response), by method and error code; 429s are "
            "counted in lore_slack_rate_limited_total.",
            ["method", "error"],
            registry=r,
        )
        self.slack_rate_limited = Counter(
            "lore_slack_rate_limited",
            "Slack Web API responses with HTTP 429 (each is waited out and retried), by method.",
            ["method"],
            registry=r,
        )
        self.sync_documents = Counter(
            "lore_sync_documents",
            "Documents seen by syncs, by source and outcome: added, updated, unchanged, deleted, failed.",
            ["source", "outcome"],
            registry=r,
        )
        self.sync_errors = Counter(
            "lore_sync_errors",
            "Sync errors by source and stage: document (one document skipped), sync (the whole sync failed).",
            ["source", "stage"],
            registry=r,
        )
        self.sync_runs = Counter(
            "lore_sync_runs",
            "Syncs that ended, by source and result: ok, retry, failed, timeout.",
            ["source", "result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "lore_queue_depth", "Sync and delete jobs waiting in the queue (not running).", registry=r
        )
        self.api_requests = Counter(
            "lore_api_requests",
            "Knowledge API requests, by route and HTTP status.",
            ["path", "status"],
            registry=r,
        )

    def answered(self, mode: str, seconds: float) -> None:
        """One answer given in `mode`, `seconds` after the question."""
        self.answers.labels(mode=mode).inc()
        self.answer_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def handler(self, refresh: Callable[[], Awaitable[None]] | None = None) -> Handler:
        """An aiohttp handler for `GET /metrics`; `refresh` updates gauges first (it must not raise)."""

        async def metrics(request: web.Request) -> web.Response:
            if refresh is not None:
                await refresh()
            body, content_type = self.render()
            return web.Response(body=body, headers={"Content-Type": content_type})

        return metrics
