"""The slack-bolt app: which Slack events, actions and commands reach which part of Lore."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.admin import views as admin_views
from bot.admin.admins import Admins
from bot.admin.api_keys import KeyAdmin
from bot.admin.channel_form import CHANNEL_VIEW, HOME_CHANNEL, open_form, submit_form
from bot.admin.slash import SourceAdmin
from bot.events import Surface, mentioned, read_event
from bot.feedback import REASONS, Feedback, VoteValue
from bot.home import HOME_ADD
from bot.memory import ConversationMemory, ThreadRef
from bot.questions import Answering
from bot.sharing import Sharing
from knowledge import keys as store_keys
from knowledge.apikeys import ApiKeys
from knowledge.audit import AuditLog
from knowledge.jobs import Jobs
from knowledge.kv.base import KeyValue, StoreUnavailable
from knowledge.settings import Settings
from knowledge.sources import Registry

log = logging.getLogger(__name__)

EVENT_TTL = 3600  # seconds an event id stays claimed: Slack retries within minutes
GREETING = (
    "Hi, I'm Lore. Ask me anything about your company's wiki and file shares: I answer with numbered "
    "sources you can open, from what you are allowed to read."
)
NOT_SHARED = "Sorry, I couldn't share the answer just now. Please try again later."
NOT_RECORDED = "Sorry, I couldn't record your feedback just now. Please try again later."
THANKS: dict[VoteValue, str] = {
    "up": "Thanks! Your 👍 is recorded.",
    "down": "Thanks, your 👎 is recorded: it helps us fix answers like this one.",
}


def build_app(
    settings: Settings,
    client: AsyncWebClient,
    store: KeyValue,
    answering: Answering,
    memory: ConversationMemory,
    feedback: Feedback,
    *,
    bot_user_id: str,
    team_id: str,
    registry: Registry | None = None,
    audit: AuditLog | None = None,
    jobs: Jobs | None = None,
    keys: ApiKeys | None = None,
) -> AsyncApp:
    """The bolt app with Lore's listeners. HTTP requests are verified with the signing secret.

    Without `registry`, `audit` and `jobs` this process does not manage sources, and without `keys`
    (and `audit`) no API keys: `/lore` says so.
    """
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=secret or "unused-in-socket-mode",
        request_verification_enabled=secret is not None,
        process_before_response=False,  # ack at once, answer in the background
    )

    admins = Admins(settings.admins, answering.identity, client, ttl=settings.identity_ttl)
    sharing = Sharing(store, answering.identity, answering.kb.index, client)
    key_admin = KeyAdmin(keys, audit, default_rate=settings.api_rate_limit)
    admin = SourceAdmin(
        client,
        answering.identity,
        admins,
        registry,
        audit,
        jobs,
        settings=settings,
        team_id=team_id,
        apikeys=key_admin,
        index=answering.kb.index,
        feedback=feedback,
        channels=answering.channels,
    )

    @app.middleware
    async def once_per_event(body: dict[str, Any], next: Any) -> BoltResponse | None:
        """A retried event (same event_id) is acknowledged and dropped, across replicas."""
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id:
            try:
                if not await store.claim(store_keys.event(str(event_id)), EVENT_TTL):
                    log.info("event %s already taken by this or another replica: dropped", event_id)
                    return BoltResponse(status=200, body="")
            except StoreUnavailable as exc:
                log.warning("cannot check event %s for duplicates: %s", event_id, exc)
        await next()
        return None

    async def answer(event: dict[str, Any], body: dict[str, Any], surface: Surface) -> None:
        asked = read_event(
            event,
            surface=surface,
            team=str(body.get("team_id") or team_id),
            bot_user_id=bot_user_id,
            event_id=body.get("event_id"),
        )
        if asked is not None:
            await answering.handle(asked, client)

    async def asks_here(event: dict[str, Any]) -> bool:
        """A question (it ends with a question mark) asked at the top of a channel whose setup answers
        every question; never a message that mentions someone (a mention of Lore is answered as one)."""
        text = str(event.get("text") or "").strip()
        if not text.endswith(("?", "？")) or mentioned(text) or event.get("bot_id") or event.get("subtype"):
            return False
        try:
            setup = await answering.channels.get(str(event.get("channel")))
        except (StoreUnavailable, OSError) as exc:
            log.warning("cannot read the setup of %s: %s", event.get("channel"), exc)
            return False
        return setup is not None and setup.answers == "questions"

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        await answer(event, body, "mention")

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") == "im":
            await answer(event, body, "dm")
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts:
            if await asks_here(event):
                await answer(event, body, "mention")  # a channel that answers every question
            return  # else a channel message that does not mention Lore
        others = mentioned(str(event.get("text") or ""))
        if others:
            return  # mentions Lore (app_mention answers it) or talks to someone else
        team = str(body.get("team_id") or team_id)
        thread = ThreadRef(team=team, channel=str(event.get("channel")), thread_ts=str(thread_ts))
        try:
            ours = await memory.knows(thread)
        except StoreUnavailable as exc:
            log.warning("cannot tell whether %s is Lore's thread: %s", thread_ts, exc)
            return
        if ours:
            await answer(event, body, "follow_up")

    assistant = AsyncAssistant()

    @assistant.thread_started
    async def on_pane_opened(say: AsyncSay, set_suggested_prompts: Any) -> None:
        await say(GREETING)
        if settings.suggested_prompts:
            await set_suggested_prompts(prompts=settings.suggested_prompts[:4], title="Try asking")

    @assistant.user_message
    async def on_pane_message(
        payload: dict[str, Any], body: dict[str, Any], set_title: Any, context: AsyncBoltContext
    ) -> None:
        thread = ThreadRef(
            team=str(body.get("team_id") or team_id),
            channel=str(payload.get("channel")),
            thread_ts=str(payload.get("thread_ts")),
        )
        try:
            if not await memory.knows(thread):
                await set_title(render.title_of(str(payload.get("text") or "")))
        except Exception as exc:  # a title is nice to have; the answer matters
            log.info("no thread title: %s", exc)
        await answer(payload, body, "assistant")

    app.use(assistant)

    async def vote(answer_id: str, body: dict[str, Any], respond: AsyncRespond, value: VoteValue) -> None:
        try:
            await feedback.record(answer_id, str(body["user"]["id"]), value)
        except StoreUnavailable as exc:
            log.error("feedback not recorded: %s", exc)
            await respond(text=NOT_RECORDED, response_type="ephemeral", replace_original=False)
            return
        if value == "down":  # a reason is optional: offered once, never required
            blocks = render.reason_blocks(answer_id, {str(k): v for k, v in REASONS.items()})
            await respond(
                text=THANKS[value], blocks=blocks, response_type="ephemeral", replace_original=False
            )
            return
        await respond(text=THANKS[value], response_type="ephemeral", replace_original=False)

    @app.action(render.FEEDBACK)
    async def on_feedback(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        kind, _, answer_id = str(action.get("value") or "").partition(":")
        if kind in ("up", "down") and answer_id:
            await vote(answer_id, body, respond, "up" if kind == "up" else "down")

    @app.action(render.FEEDBACK_UP)
    async def on_up(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await vote(str(action.get("value")), body, respond, "up")

    @app.action(render.FEEDBACK_DOWN)
    async def on_down(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await vote(str(action.get("value")), body, respond, "down")

    @app.action(render.FEEDBACK_REASON)
    async def on_reason(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        reason, _, answer_id = str(action.get("value") or "").partition(":")
        if reason not in REASONS or not answer_id:
            return
        try:
            await feedback.explain(answer_id, str(body["user"]["id"]), reason)
        except StoreUnavailable as exc:
            log.error("feedback reason not recorded: %s", exc)
            await respond(text=NOT_RECORDED, response_type="ephemeral", replace_original=False)
            return
        text = f"Thanks: noted as “{REASONS[reason]}”."
        await respond(text=text, response_type="ephemeral", replace_original=True)

    @app.action(render.PRIVATE_ANSWER)
    async def on_private(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        try:
            text = await answering.answer_privately(str(action.get("value")), str(body["user"]["id"]), client)
        except StoreUnavailable as exc:
            log.error("private answer failed: %s", exc)
            text = "Sorry, I can't reach my shared state right now: please ask me again in a DM."
        await respond(text=text, response_type="ephemeral", replace_original=True)

    async def share(body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, part: bool) -> None:
        answer_id, user = str(action.get("value")), str(body["user"]["id"])
        try:
            outcome = await sharing.share(answer_id, user, part=part)
        except (StoreUnavailable, SlackApiError) as exc:
            log.error("sharing an answer failed: %s", exc)
            await respond(text=NOT_SHARED, response_type="ephemeral", replace_original=False)
            return
        blocks = render.share_part_blocks(outcome.text, answer_id) if outcome.offer_part else None
        await respond(text=outcome.text, blocks=blocks, response_type="ephemeral", replace_original=False)

    @app.action(render.SHARE)
    async def on_share(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await share(body, action, respond, part=False)

    @app.action(render.SHARE_PART)
    async def on_share_part(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        await share(body, action, respond, part=True)

    @app.command("/lore")
    async def on_lore(ack: Any, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await admin.command(body, respond)

    @app.view(admin_views.ADD_VIEW)
    async def on_submit(ack: Any, body: dict[str, Any]) -> None:
        await admin.form.submit(ack, body)

    @app.action(admin_views.ADD_KIND)
    async def on_kind(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await admin.form.change_kind(body, action)

    @app.action(HOME_CHANNEL)
    async def on_home_channel(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await open_form(admin, body)

    @app.view(CHANNEL_VIEW)
    async def on_channel_form(ack: Any, body: dict[str, Any]) -> None:
        await submit_form(admin, ack, body)

    @app.action(HOME_ADD)
    async def on_home_add(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await admin.form.open_from_home(body)

    @app.action(admin_views.REMOVE_CONFIRM)
    async def on_remove(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        text = await admin.confirmed_remove(body, str(action.get("value")))
        await respond(text=text, response_type="ephemeral", replace_original=True)

    @app.action(admin_views.REMOVE_CANCEL)
    async def on_cancel(ack: Any, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        text = admin_views.cancelled(str(action.get("value")))
        await respond(text=text, response_type="ephemeral", replace_original=True)

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return  # the Messages tab is a DM: nothing to draw
        await admin.publish_home(str(body.get("team_id") or team_id), str(event["user"]))

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener (type=%s): %r", body.get("type"), error)

    return app
