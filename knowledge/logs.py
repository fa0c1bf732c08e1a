"""Log lines as text or as JSON objects (one per line, for a log collector), with the id of the request
(a question in Slack, an API call) being served. Message text and secrets are logged at DEBUG only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

from knowledge.settings import Settings

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s%(request)s"
REQUEST_ID: ContextVar[str | None] = ContextVar("lore_request_id", default=None)
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a caller's own X-Request-Id, if it looks like one


def new_request_id() -> str:
    """A fresh, short id that a person can quote."""
    return uuid.uuid4().hex[:12]


def usable_id(given: str | None) -> str:
    """`given` (a caller's request id) when it is short and plain, else a fresh id."""
    return given if given and _GIVEN_ID.fullmatch(given) else new_request_id()


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Tag every log line written inside the block (in this task) with a request id; yields it."""
    value = request_id or new_request_id()
    token = REQUEST_ID.set(value)
    try:
        yield value
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (`request_id`, None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        record.request_id = rid  # type: ignore[attr-defined]  # `extra` fields are set like this
        record.request = f" [request {rid}]" if rid else ""  # type: ignore[attr-defined]
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stderr handler (or one on `stream`) writing `log_format` lines with request ids."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.addFilter(RequestIdFilter())
    out.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return out


def configure_logging(how: Settings | LogFormat, verbose: bool) -> None:
    """Log to stderr as `LORE_LOG_FORMAT` says: INFO and up with `verbose`, else WARNING and up. Like
    `logging.basicConfig`, it leaves logging that is already configured (a host program's, pytest's) alone."""
    log_format: LogFormat = how.log_format if isinstance(how, Settings) else how
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler(log_format)])
