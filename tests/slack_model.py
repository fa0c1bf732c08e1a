"""What the Slack stand-in keeps: recorded calls, messages, the workspace (users, channels, user groups)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Result = dict[str, Any]


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" for posts to a response URL
    args: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() on arrival
    path: str = ""


@dataclass
class Message:
    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    streaming: bool = False
    user: str = "UBOT"
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task_update chunks: the last of each id

    def api(self, bot_id: str | None) -> Result:
        """The message as Slack's API returns it."""
        out: Result = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if bot_id is not None:
            out["bot_id"] = bot_id
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.blocks is not None:
            out["blocks"] = self.blocks
        return out


@dataclass
class User:
    id: str
    email: str | None = None
    name: str | None = None
    team_id: str = "T1"
    is_bot: bool = False
    is_restricted: bool = False
    deleted: bool = False


@dataclass
class Channel:
    id: str
    members: list[str] = field(default_factory=list)
    is_ext_shared: bool = False
    is_im: bool = False
    is_private: bool = False
    name: str | None = None
    is_mpim: bool = False


@dataclass
class Usergroup:
    id: str
    handle: str
    users: list[str]


@dataclass
class Failure:
    error: str
    status: int
    retry_after: int
    remaining: int | None  # None: forever


def error_result(error: str) -> Result:
    return {"ok": False, "error": error}


def flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


TASK_STATUSES = ("pending", "in_progress", "complete", "error")


def task_chunks(args: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The `task_update` chunks of a streaming call; None when one is malformed (Slack documents `id`,
    `title` and a `status` of pending, in_progress, complete or error; `sources` of `{type: url, url,
    text}`: docs.slack.dev, "Sending and scheduling messages", text streaming)."""
    chunks = args.get("chunks")
    tasks = (
        [c for c in chunks if isinstance(c, dict) and c.get("type") == "task_update"]
        if isinstance(chunks, list)
        else []
    )
    for task in tasks:
        sources = task.get("sources", [])
        if not (task.get("id") and task.get("title") and task.get("status") in TASK_STATUSES):
            return None
        if not all(s.get("type") == "url" and s.get("url") and s.get("text") for s in sources):
            return None
    return tasks


def chunk_text(args: dict[str, Any]) -> str:
    """`markdown_text` plus the text of any markdown_text chunks."""
    chunks = args.get("chunks")
    chunks = chunks if isinstance(chunks, list) else []
    texts = [c.get("text", "") for c in chunks if isinstance(c, dict) and c.get("type") == "markdown_text"]
    return str(args.get("markdown_text") or "") + "".join(texts)
