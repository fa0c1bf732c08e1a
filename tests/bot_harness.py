"""Lore's bot as Slack sees it: real bolt apps served over HTTP on free ports, talking to the Slack
stand-in, answering from a small indexed knowledge base, with signed requests.

    async with bot_harness(kb, store, settings) as bot:
        await bot.event({"type": "app_mention", ...})
        done = await bot.answer_in("C1", ts)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.runtime import BotRuntime
from ingestion.connectors.files import FilesConnector
from ingestion.sync import SyncEngine
from knowledge.apikeys import ApiKeys
from knowledge.audit import AuditLog
from knowledge.jobs import Jobs
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Registry
from tests.conftest import free_port
from tests.slack_standin import (
    Message,
    SlackStandin,
    action_body,
    command_body,
    event_body,
    signed_request,
)

SECRET = "test-signing-secret"
FORM = "application/x-www-form-urlencoded"
ANA, BOB, CARL = "UANA", "UBOB", "UCARL"  # Ana is in finance (a Slack user group), Bob and Carl are not

PUBLIC_DOCS = {
    "expenses.md": "# Expenses\n\n## Travel\n\nTravel is booked through Navan. Hotels are reimbursed up to "
    "200 euros a night.\n\n## Meals\n\nMeals on business trips are reimbursed up to 75 euros a day.\n",
    "time-off.md": "# Time off\n\nEveryone gets 25 days of paid holiday per year. Holidays are requested "
    "in Workday at least two weeks ahead.\n",
    "announcements.md": "# Announcements\n\nThe office party is announced with <!channel> and @here by "
    "<@U999>, see <https://evil.example/steal|the party page>.\n",
}
FINANCE_DOC = (
    "payroll.md",
    "# Payroll calendar\n\nPayroll runs on the 25th of each month. The Zorblax bonus pool of the finance "
    "team is 4 percent of payroll.\n",
)
FINANCE_WORDS = ("Zorblax", "Payroll calendar", "payroll.md")


async def load_docs(engine: SyncEngine, root: Path) -> None:
    """Index the public handbook and the finance-only payroll page."""
    public, finance = root / "public", root / "finance"
    public.mkdir()
    finance.mkdir()
    for name, text in PUBLIC_DOCS.items():
        (public / name).write_text(text, encoding="utf-8")
    (finance / FINANCE_DOC[0]).write_text(FINANCE_DOC[1], encoding="utf-8")
    await engine.sync("handbook", FilesConnector([public], ["public"]))
    await engine.sync("finance", FilesConnector([finance], ["group:finance"]))


def workspace(slack: SlackStandin) -> None:
    """Ana (finance), Bob and Carl; #general with all three, #finance with Ana only."""
    slack.add_user(ANA, "ana@example.com", name="ana")
    slack.add_user(BOB, "bob@example.com", name="bob")
    slack.add_user(CARL, "carl@example.com", name="carl")
    slack.add_user(slack.bot_user_id, None, name="lore", is_bot=True)
    slack.add_usergroup("S1", "finance", [ANA])
    slack.add_channel("CGENERAL", [ANA, BOB, CARL, slack.bot_user_id], name="general")
    slack.add_channel("CFINANCE", [ANA, slack.bot_user_id], name="finance", is_private=True)
    for user in (ANA, BOB, CARL):
        slack.add_channel(f"D{user}", [user, slack.bot_user_id], is_im=True)


def bot_settings(settings: Settings, slack: SlackStandin, **overrides: Any) -> Settings:
    """The test settings pointed at the stand-in, with signed HTTP mode and fast streaming updates."""
    values = settings.model_dump() | {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SECRET,
        "slack_api_url": slack.api_url,
        "stream_interval": 0.01,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Bot:
    """One or more bot replicas in front of one Slack stand-in."""

    slack: SlackStandin
    runtimes: list[BotRuntime]
    urls: list[str]
    http: aiohttp.ClientSession
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        """A message ts for a user's message, distinct from the stand-in's."""
        return f"1600000000.{next(self._ts):06d}"

    async def post(
        self,
        body: str,
        *,
        to: int = 0,
        secret: str = SECRET,
        timestamp: int | None = None,
        retry_num: int | None = None,
        content_type: str = "application/json",
    ) -> int:
        """POST a signed request to replica `to`'s /slack/events; returns the HTTP status."""
        headers = signed_request(
            body, secret, timestamp=timestamp, retry_num=retry_num, content_type=content_type
        )
        async with self.http.post(self.urls[to], data=body.encode(), headers=headers) as response:
            await response.read()
            return response.status

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, to: int = 0, retry_num: int | None = None
    ) -> int:
        """Deliver an Events API event (signed), as Slack would."""
        body = event_body(event, event_id=event_id or f"Ev{next(self._ids):08d}")
        return await self.post(json.dumps(body), to=to, retry_num=retry_num)

    async def mention(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> str:
        """@Lore in a channel; returns the message ts (the thread the answer goes into)."""
        ts = self.next_ts()
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{self.slack.bot_user_id}> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "action_token": self.slack.action_token(user),  # as Slack sends to AI apps
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        assert await self.event(event) == 200
        return ts

    async def message(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        channel_type: str = "channel",
    ) -> str:
        """A plain message event (a DM, or a thread reply in a channel); returns its ts."""
        ts = self.next_ts()
        event = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "event_ts": ts,
            "action_token": self.slack.action_token(user),
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        assert await self.event(event) == 200
        return ts

    async def click(
        self, user: str, channel: str, button: dict[str, Any], *, message_ts: str | None = None
    ) -> int:
        """Press a button of a message (or an ephemeral one, without `message_ts`), as Slack posts it."""
        container: dict[str, Any] = {"type": "message", "channel_id": channel}
        container |= {"message_ts": message_ts} if message_ts else {"is_ephemeral": True}
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": "T1"},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "channel": {"id": channel},
            "container": container,
            "response_url": self.slack.response_url(f"{user}-{button.get('action_id')}"),
            "trigger_id": "1.2.3",
            "actions": [{**button, "block_id": "b", "action_ts": "1.2"}],
        }
        return await self.post(action_body(payload), content_type="application/x-www-form-urlencoded")

    async def command(self, user: str, text: str, *, channel: str = "CGENERAL") -> str:
        """`/lore <text>` from `user`, signed; returns the name of its response_url (see `replies`)."""
        name = f"cmd{next(self._ids)}"
        body = command_body(
            "/lore", text, user_id=user, channel_id=channel, response_url=self.slack.response_url(name)
        )
        assert await self.post(body, content_type=FORM) == 200
        return name

    async def replies(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        """What Lore posted to response_url `name`, once it has posted `count` times."""

        def posted() -> list[dict[str, Any]]:
            return [c.args for c in self.slack.calls_to("response_url") if c.path == f"/response/{name}"]

        await self.slack.wait_until(lambda: len(posted()) >= count, f"{count} response(s) to {name}")
        return posted()

    async def submit_view(
        self, user: str, view: dict[str, Any], values: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Submit a modal as Slack does (`view_submission` with `view.state.values`), typing `values`
        (block_id -> text; a select takes the option value) into its inputs; returns the HTTP status and
        the JSON body of the response (`{}` when empty)."""
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            text = values.get(block["block_id"], element.get("initial_value"))
            if element["type"] == "static_select":
                option = next((o for o in element["options"] if o["value"] == text), None)
                chosen = option or element.get("initial_option")
                entry = {"type": "static_select", "selected_option": chosen}
            elif element["type"] == "multi_static_select":  # `text`: the values picked, comma separated
                picked = [o for o in element["options"] if o["value"] in (text or "").split(",")]
                entry = {"type": "multi_static_select", "selected_options": picked}
            elif element["type"] == "conversations_select":
                entry = {"type": "conversations_select", "selected_conversation": text}
            else:
                entry = {"type": element["type"], "value": text or None}
            state[block["block_id"]] = {element["action_id"]: entry}
        submitted = {**view, "id": view.get("id", "V0000001"), "state": {"values": state}}
        payload = {
            "type": "view_submission",
            "team": {"id": "T1", "domain": "standin"},
            "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "token": "verification-token",
            "trigger_id": "1.2.4",
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        body = action_body(payload)
        headers = signed_request(body, SECRET, content_type=FORM)
        async with self.http.post(self.urls[0], data=body.encode(), headers=headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text.strip() else {}

    async def click_view(self, user: str, action: dict[str, Any], view: dict[str, Any] | None = None) -> int:
        """Press a button or pick an option in a view (a modal given as `view`, else the App Home), as
        Slack posts it: a trigger_id and the view, no response_url."""
        view = view or {"id": "VHOME", "type": "home", "blocks": []}
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": "T1"},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "container": {"type": "view", "view_id": view.get("id")},
            "view": view,
            "trigger_id": "1.2.5",
            "actions": [{**action, "block_id": "b", "action_ts": "1.2"}],
        }
        return await self.post(action_body(payload), content_type=FORM)

    async def settle(self) -> None:
        """Wait for every answer being written by every replica."""
        for runtime in self.runtimes:
            await runtime.answering.drain(30)

    async def answer_in(self, channel: str, thread_ts: str, count: int = 1) -> list[Message]:
        """Wait until `count` finished replies (with blocks) are in the thread; returns them."""

        def finished() -> list[Message]:
            return [m for m in self.slack.replies_in(channel, thread_ts) if m.blocks and not m.streaming]

        await self.slack.wait_until(lambda: len(finished()) >= count, f"{count} answer(s) in {thread_ts}")
        await self.settle()
        return finished()


def feedback_action(blocks: list[dict[str, Any]] | None, vote: str) -> dict[str, Any]:
    """The action Slack sends when someone presses 👍 (`vote="up"`) or 👎 of an answer's feedback buttons
    (`type: feedback_buttons`, the pressed button's value; as bolt-js's `FeedbackButtonsAction` shows)."""
    block = next(b for b in blocks or [] if b.get("block_id") == "lore_feedback")
    assert block["type"] == "context_actions"
    [element] = block["elements"]
    pressed = element["positive_button" if vote == "up" else "negative_button"]
    return {"type": "feedback_buttons", "action_id": element["action_id"], **pressed}


def shown(slack: SlackStandin) -> str:
    """Everything Lore sent to Slack (texts, blocks, prompts), as one string for leak checks."""
    return "\n".join(json.dumps(call.args, ensure_ascii=False) for call in slack.calls)


@asynccontextmanager
async def bot_harness(
    kb: Knowledge,
    stores: list[KeyValue],
    settings: Settings,
    slack: SlackStandin,
    *,
    registry: Registry | None = None,
    audit: AuditLog | None = None,
    jobs: Jobs | None = None,
    keys: ApiKeys | None = None,
) -> AsyncIterator[Bot]:
    """One bot replica per store (give the same Redis store twice for two replicas), serving HTTP;
    with `registry`, `audit` and `jobs` they manage sources too, with `keys` and `audit` API keys."""
    async with AsyncExitStack() as stack:
        runtimes, urls = [], []
        for store in stores:
            runtime = await BotRuntime.open(
                settings, kb=kb, store=store, registry=registry, audit=audit, jobs=jobs, keys=keys
            )
            stack.push_async_callback(runtime.close)
            port = free_port()
            await runtime.serve_http("127.0.0.1", port)
            runtimes.append(runtime)
            urls.append(f"http://127.0.0.1:{port}/slack/events")
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield Bot(slack=slack, runtimes=runtimes, urls=urls, http=http)
