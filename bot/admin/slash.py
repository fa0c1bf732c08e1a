"""Managing sources from Slack: the `/lore` command, removal's confirmation and the App Home (the
add-source modal is bot/admin/add_form.py). Anyone may ask for help, the sources they may read and the
queue's health; only admins (LORE_ADMINS) change anything, and every change is audited. `/lore apikey` is
routed to bot/admin/api_keys.py."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.admin import views
from bot.admin.add_form import FAILED, AddForm, bounded
from bot.admin.admins import Admins
from bot.admin.api_keys import KeyAdmin
from bot.admin.channel_setup import ChannelAdmin, setups_text
from bot.admin.home_tab import HomeTab
from bot.admin.source_fields import ACCESS, CREDENTIALS, EVERY, ID, KINDS, LOCATION, OVERRIDES, first_kind
from bot.admin.source_input import FormError, fields_from_line, kind_error, split_args
from bot.admin.source_input import source_from_fields as parse_source
from bot.admin.views import usage
from bot.feedback import Feedback
from bot.home import NOT_CONFIGURED
from bot.identity import Identity
from bot.mrkdwn import escape
from knowledge.audit import AuditEntry, AuditLog
from knowledge.channels import ChannelSetups
from knowledge.index.base import Index
from knowledge.jobs import ALLOW_DELETES, JobRequest, Jobs
from knowledge.kv.base import StoreUnavailable
from knowledge.settings import Settings
from knowledge.sources import SOURCE_ID, Registry, Source, SourceRecord

log = logging.getLogger(__name__)

NOT_CONFIGURED_TEXT = (
    f"{NOT_CONFIGURED} `lore bot` manages sources when it runs with a source registry, an audit log "
    "and a job queue."
)
ADMIN_ONLY = {  # subcommand -> what only admins may do
    "add": "add sources",
    "remove": "remove sources",
    "sync": "sync sources",
    "audit": "see the audit log",
    "apikey": "manage API keys",
    "channel": "set up how Lore answers in a channel",
}
ONE_LINE_NAMES = {  # how the one-line `/lore add` names each field of the form
    ID: "the source id",
    LOCATION: "the folders",
    ACCESS: "`access=`",
    OVERRIDES: "`override=`",
    EVERY: "`every=`",
    CREDENTIALS: "`credentials=`",
}
UNAVAILABLE = (
    "I can't reach Lore's shared state (Redis) right now: try again in a minute. `/lore sources` shows "
    "what was done."
)


class SourceAdmin:
    """What `/lore`, the modal, the buttons and the App Home do; `registry`, `audit` and `jobs` are None
    in a process that does not manage sources (every source command then says so)."""

    def __init__(
        self,
        client: AsyncWebClient,
        identity: Identity,
        admins: Admins,
        registry: Registry | None,
        audit: AuditLog | None,
        jobs: Jobs | None,
        *,
        settings: Settings,
        team_id: str = "",
        apikeys: KeyAdmin | None = None,
        index: Index | None = None,
        feedback: Feedback | None = None,
        channels: ChannelSetups | None = None,
    ) -> None:
        self.settings = settings  # the bounds of what a source added from Slack may point at
        self.team_id = team_id
        self.channels = (
            ChannelAdmin(channels, registry, audit)
            if channels is not None and registry is not None and audit is not None
            else None
        )  # `/lore channel`: the channels' setups
        self.feedback = feedback  # answers and votes, for the admins' review on the Home tab
        self.index = index  # tells who may read something of a source whose documents carry their own access
        self.apikeys = apikeys or KeyAdmin(None, None, default_rate=0)
        self.client = client
        self.identity = identity
        self.admins = admins
        self.registry = registry
        self.audit = audit
        self.jobs = jobs
        self.form = AddForm(self)  # the add-source modal, from `/lore add` or the Home tab

    @property
    def configured(self) -> bool:
        return self.registry is not None and self.audit is not None and self.jobs is not None

    # ----- /lore

    async def command(self, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Answer one `/lore …` (already acknowledged), ephemerally. Never raises."""
        user, team, text = str(body.get("user_id")), str(body.get("team_id")), str(body.get("text") or "")
        sub = next((w for w in text.lower().split()[:1] if w in views.USAGE), "?")  # the rest may be a secret
        log.debug("/lore %r by %s", text, user)
        try:
            reply = await self._command(team, user, text, body)
        except StoreUnavailable as exc:
            log.error("/lore %s by %s: shared state unavailable: %s", sub, user, exc)
            reply = UNAVAILABLE
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("/lore %s by %s failed (ref=%s)", sub, user, ref)
            reply = FAILED.format(ref=ref)
        if reply is None:
            return
        text, blocks = reply if isinstance(reply, tuple) else (reply, None)
        await respond(text=text, blocks=blocks, response_type="ephemeral")

    async def _command(
        self, team: str, user: str, text: str, body: dict[str, Any]
    ) -> str | tuple[str, list[views.Block]] | None:
        try:
            words = split_args(text)
        except ValueError:
            return f"I couldn't read that: a quote is not closed.\n{views.COMMANDS}"
        sub, args = (words[0].lower(), words[1:]) if words else ("help", [])
        if sub not in views.USAGE:
            return f"Unknown command `{escape(sub)}`: `/lore help` explains the commands.\n{views.COMMANDS}"
        if sub == "help":
            return views.HELP
        if sub == "apikey":  # needs the key store and audit log, not the sources
            return await self._refused(team, user, sub) or await self.apikeys.command(args, user)
        if not self.configured:
            return NOT_CONFIGURED_TEXT
        if sub in ("sources", "status") and args:
            return f"`/lore {sub}` takes no arguments.\n{usage(sub)}"
        if sub == "sources":
            return await self._sources(team, user)
        if sub == "status":
            return await self._status(team, user)
        if refused := await self._refused(team, user, sub):
            return refused
        if sub == "audit":
            return _checked(args, 0, "audit") or await self._audit_text()
        if sub == "channel":
            if self.channels is None:
                return NOT_CONFIGURED_TEXT
            return await self.channels.command(args, user, str(body.get("channel_id") or ""))
        if sub == "add":
            return await self._add_command(args, user, body)
        allow_deletes = sub == "sync" and _take_flag(args, ALLOW_DELETES)
        if problem := _checked(args, 1, sub):
            return problem
        record = await self._existing(args[0])
        if isinstance(record, str):
            return f"{record}\n{usage(sub)}"
        if sub == "sync":
            return await self.sync(record.source.id, user, allow_deletes=allow_deletes)
        return f"Remove *{record.source.id}*?", views.remove_blocks(record)

    async def _refused(self, team: str, user: str, sub: str) -> str | None:
        """The refusal of an admin-only subcommand to someone who is not an admin."""
        if await self.admins.check(team, user):
            return None
        log.info("/lore %s refused to %s (not an admin)", sub, user)
        return self.admins.refusal(ADMIN_ONLY[sub])

    async def _sources(self, team: str, user: str) -> str:
        assert self.registry is not None
        admin = await self.admins.check(team, user)
        records = await self.registry.all()
        if not admin:
            records = await views.known_to(records, await self.identity.principal(team, user), self.index)
            return views.sources_text(records, time.time(), admin=admin)
        setups = await self.channels.setups.all() if self.channels is not None else []
        return views.sources_text(records, time.time(), admin=admin) + setups_text(setups)

    async def _status(self, team: str, user: str) -> str:
        assert self.registry is not None and self.jobs is not None
        records = await self.registry.all()
        admin = await self.admins.check(team, user)
        if not admin:
            records = await views.known_to(records, await self.identity.principal(team, user), self.index)
        return views.status_text(await self.jobs.status(), records, time.time(), admin=admin)

    async def _audit_text(self) -> str:
        assert self.audit is not None
        return views.audit_text(await self.audit.latest(20))

    async def _existing(self, source_id: str) -> SourceRecord | str:
        """The source named `source_id`, or what is wrong with the name."""
        assert self.registry is not None
        if not SOURCE_ID.match(source_id):
            return f"Invalid source id {escape(source_id)!r}: source ids are lower-case, e.g. handbook."
        record = await self.registry.get(source_id)
        if record is None:
            return f"There is no source named *{source_id}*: `/lore sources` lists them."
        return record

    async def _add_command(self, args: list[str], user: str, body: dict[str, Any]) -> str | None:
        if len(args) <= 1:
            kind = args[0].lower() if args else first_kind()
            if kind not in KINDS:
                return f"{_sentence(kind_error(kind))}\n{usage('add')}"
            metadata = {"origin": "command"}
            try:
                await self.client.views_open(
                    trigger_id=str(body.get("trigger_id")), view=views.add_modal(kind, metadata)
                )
            except SlackApiError as exc:
                log.warning("add form not opened: %s", exc.response.get("error"))
                return f"I couldn't open the form: run `/lore add` again, or add in one line.\n{usage('add')}"
            return None
        try:
            kind, values = fields_from_line(args)
            source = bounded(parse_source(kind, values, added_by=user), self.settings)
        except FormError as exc:
            where = KINDS[kind].location_word if kind in KINDS else "the location"
            names = ONE_LINE_NAMES | {LOCATION: where}
            lines = [f"• {names.get(k, f'`{k}=`')}: {m}" for k, m in exc.errors.items()]
            return "\n".join(lines) + f"\n{usage('add')}"
        except ValueError as exc:
            return f"{_sentence(str(exc))}\n{usage('add')}"
        assert self.registry is not None
        if await self.registry.get(source.id) is not None:
            return f"{views.taken(source.id)}\n{usage('add')}"
        return await self.add(source, user)

    # ----- the changes (callers have checked that `user` is an admin)

    async def add(self, source: Source, user: str) -> str:
        """Register, audit and queue the first sync of a new source; says how it went."""
        assert self.registry is not None and self.jobs is not None
        await self.registry.put(source)
        await self._record(user, "add", source.id, views.audit_detail(source))
        try:
            await self.jobs.request_sync(JobRequest(source_id=source.id, requested_by=user))
        except Exception:
            log.exception("first sync of %s not queued", source.id)
            return (
                f"Added *{source.id}*, but its first sync could not be queued: run `/lore sync {source.id}`."
            )
        return (
            f"Added *{source.id}* ({views.described(source)}). Its first sync is queued: I'll message you "
            "when it is done."
        )

    async def sync(self, source_id: str, user: str, *, allow_deletes: bool = False) -> str:
        """Queue a sync now, unless one is queued or running; `allow_deletes` confirms the deletions the
        mass-deletion guard held back (audited as such)."""
        assert self.jobs is not None
        request = JobRequest(source_id=source_id, requested_by=user, allow_deletes=allow_deletes)
        if not await self.jobs.request_sync(request):
            again = f" When it is done, ask again with `{ALLOW_DELETES}`." if allow_deletes else ""
            return f"*{source_id}* is already syncing (queued or running): nothing to do.{again}"
        await self._record(
            user, "sync", source_id, f"sync now {ALLOW_DELETES}" if allow_deletes else "sync now"
        )
        if allow_deletes:
            return (
                f"Sync of *{source_id}* queued, allowed to delete every document gone from the source: I'll "
                "message you when it is done."
            )
        return f"Sync of *{source_id}* queued: I'll message you when it is done."

    async def confirmed_remove(self, body: dict[str, Any], source_id: str) -> str:
        """The Remove button of `/lore remove`'s confirmation; says how it went. Never raises."""
        team, user = views.who(body, self.team_id)
        try:
            return await self.remove(team, user, source_id)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("removing %s for %s failed (ref=%s)", source_id, user, ref)
            return FAILED.format(ref=ref)

    async def remove(self, team: str, user: str, source_id: str) -> str:
        """The confirmed removal: checked again (a button can be pressed long after it was shown)."""
        if not self.configured:
            return NOT_CONFIGURED_TEXT
        assert self.jobs is not None
        if not await self.admins.check(team, user):
            return self.admins.refusal("remove sources")
        record = await self._existing(source_id)
        if isinstance(record, str):
            return record
        if not await self.jobs.request_delete(JobRequest(source_id=source_id, requested_by=user)):
            return f"The removal of *{source_id}* is already queued or running."
        await self._record(user, "remove", source_id, views.audit_detail(record.source))
        return (
            f"Removing *{source_id}*: its documents are being deleted from the index. I'll message you when "
            "it is done."
        )

    async def _record(self, user: str, action: str, target: str, what: str) -> None:
        assert self.audit is not None
        await self.audit.record(
            AuditEntry(at=time.time(), who=user, action=action, target=target, detail=what)
        )

    async def tell(self, user: str, text: str) -> None:
        """A direct message from Lore (the modal has no channel to answer in)."""
        try:
            await self.client.chat_postMessage(channel=user, text=text)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error"))
            log.debug("what %s was not told: %s", user, text)

    # ----- App Home

    async def publish_home(self, team: str, user: str) -> None:
        """Draw `user`'s Home tab (bot/admin/home_tab.py)."""
        await HomeTab(self).publish(team, user)


def _checked(args: list[str], count: int, sub: str) -> str | None:
    """What is wrong with the number of arguments, with the usage line."""
    if len(args) == count:
        return None
    if len(args) < count:
        return f"Missing the source id.\n{usage(sub)}"
    extra = "takes no arguments" if count == 0 else "takes one source id"
    return f"`/lore {sub}` {extra}.\n{usage(sub)}"


def _take_flag(args: list[str], flag: str) -> bool:
    """Remove `flag` from `args` (also as Slack's autocorrected "—allow-deletes"); True if it was there."""
    spelled = {flag, "—" + flag.removeprefix("--")}
    found = [a for a in args if a.lower() in spelled]
    for word in found:
        args.remove(word)
    return bool(found)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
