"""Managing sources with `/lore` over real HTTP: only admins change anything, every change is audited, the
add modal and its one-line form check what they are given, removal asks first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.admin.source_input import every_text, parse_every
from knowledge.audit import StoreAudit
from knowledge.jobs import JobRequest
from knowledge.jobs_inline import InlineJobs
from knowledge.kv.base import KeyValue
from knowledge.service import Knowledge
from knowledge.settings import Settings
from knowledge.sources import Source, StoreRegistry
from tests.bot_harness import ANA, BOB, Bot, bot_harness, bot_settings
from tests.slack_standin import SlackStandin

CARL_ADMIN = "UCARL"
SLACK_ROOT = "/srv"  # LORE_FILES_ROOTS of these tests: Slack admins may add folders inside it
WIKI = Source(id="wiki", location=["/srv/wiki"], access=["public"], every=3600, added_by="cli")


@dataclass
class Worker:
    """Stands in for the sync worker: records what it was asked; syncs wait while `gate` is closed."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    synced: list[JobRequest] = field(default_factory=list)
    deleted: list[JobRequest] = field(default_factory=list)

    async def sync(self, request: JobRequest) -> None:
        await self.gate.wait()
        self.synced.append(request)

    async def delete(self, request: JobRequest) -> None:
        self.deleted.append(request)


@dataclass
class Admin:
    bot: Bot
    registry: StoreRegistry
    audit: StoreAudit
    jobs: InlineJobs
    worker: Worker

    async def done(self) -> None:
        """Let every queued job run to its end."""
        self.worker.gate.set()
        await self.jobs.drain()


@pytest.fixture
async def lore(
    loaded_kb: Knowledge,
    store: KeyValue,
    settings: Settings,
    slack: SlackStandin,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Admin]:
    admins = getattr(request, "param", [CARL_ADMIN])
    worker = Worker()
    jobs = InlineJobs(worker.sync, worker.delete)
    registry, audit = StoreRegistry(store), StoreAudit(store)
    tuned = bot_settings(settings, slack, admins=admins, files_roots=[SLACK_ROOT])  # the folders added below
    async with bot_harness(
        loaded_kb, [store], tuned, slack, registry=registry, audit=audit, jobs=jobs
    ) as bot:
        yield Admin(bot, registry, audit, jobs, worker)
        worker.gate.set()
        await jobs.close(5)


async def said(lore: Admin, user: str, text: str) -> str:
    """The text of Lore's (single, ephemeral) answer to `/lore <text>`."""
    [reply] = await lore.bot.replies(await lore.bot.command(user, text))
    assert reply["response_type"] == "ephemeral"
    return str(reply["text"])


async def nothing_changed(lore: Admin) -> None:
    await lore.done()
    assert await lore.registry.all() == []
    assert await lore.audit.latest() == []
    assert lore.worker.synced == lore.worker.deleted == []


@pytest.mark.parametrize(
    "text", ["add", "add files wiki /srv/wiki access=public", "remove wiki", "sync wiki", "audit"]
)
async def test_only_admins_change_anything(lore: Admin, text: str) -> None:
    reply = await said(lore, BOB, text)
    assert "Only Lore admins" in reply and "nothing was changed" in reply and f"<@{CARL_ADMIN}>" in reply
    assert lore.bot.slack.calls_to("views.open") == []
    await nothing_changed(lore)


@pytest.mark.parametrize("lore", [[]], indirect=True)
async def test_without_admins_the_refusal_says_how_to_configure_them(lore: Admin) -> None:
    assert "set LORE_ADMINS" in await said(lore, CARL_ADMIN, "add files wiki /srv/wiki access=public")
    await nothing_changed(lore)


async def test_add_opens_the_modal_with_the_commands_trigger(lore: Admin) -> None:
    await lore.bot.command(CARL_ADMIN, "add")
    [opened] = await lore.bot.slack.wait_for("views.open")
    assert opened.args["trigger_id"] == "1337.42.standin"
    view = opened.args["view"]
    assert view["callback_id"] == "lore_add_source"
    inputs = [b["block_id"] for b in view["blocks"]]
    fields = ["source_id", "location", "access", "overrides", "every", "credentials", "ceiling"]
    assert inputs == ["kind", *fields]


async def test_choosing_a_kind_redraws_the_modal_with_its_fields(lore: Admin) -> None:
    view = await opened_modal(lore) | {"id": "V0000001", "hash": "1.2"}
    picked = {"type": "static_select", "action_id": "lore_add_kind", "selected_option": {"value": "files"}}
    assert await lore.bot.click_view(CARL_ADMIN, picked, view) == 200
    [update] = await lore.bot.slack.wait_for("views.update")
    assert update.args["view_id"] == "V0000001" and update.args["hash"] == "1.2"
    assert update.args["view"]["blocks"] == view["blocks"]


async def opened_modal(lore: Admin) -> dict[str, object]:
    await lore.bot.command(CARL_ADMIN, "add")
    [opened] = await lore.bot.slack.wait_for("views.open")
    view: dict[str, object] = opened.args["view"]
    return view


GOOD = {"source_id": "wiki", "location": "/srv/wiki\n/srv/more", "access": "public", "every": "30m"}


async def test_a_bad_access_string_is_shown_in_the_modal_and_nothing_is_stored(lore: Admin) -> None:
    view = await opened_modal(lore)
    status, body = await lore.bot.submit_view(CARL_ADMIN, view, GOOD | {"access": "everyone"})
    assert status == 200 and body["response_action"] == "errors"
    assert list(body["errors"]) == ["access"] and "invalid access 'everyone'" in body["errors"]["access"]
    await nothing_changed(lore)


async def test_every_wrong_field_is_shown_in_the_modal(lore: Admin) -> None:
    view = await opened_modal(lore)
    typed = {"source_id": "Wiki!", "location": "srv/wiki", "every": "soon", "credentials": "xoxb-secret"}
    _, body = await lore.bot.submit_view(CARL_ADMIN, view, GOOD | typed)
    assert set(body["errors"]) == {"source_id", "location", "every", "credentials"}
    assert "xoxb-secret" not in str(body)
    await nothing_changed(lore)


async def test_a_good_submission_is_stored_audited_and_synced(lore: Admin) -> None:
    view = await opened_modal(lore)
    typed = {"overrides": "finance: group:finance", "credentials": "LORE_SECRET_WIKI_TOKEN"}
    status, body = await lore.bot.submit_view(CARL_ADMIN, view, GOOD | typed)
    assert status == 200 and body == {}
    [told] = await lore.bot.slack.wait_for("chat.postMessage")
    assert told.args["channel"] == CARL_ADMIN and "Added *wiki*" in told.args["text"]
    record = await lore.registry.get("wiki")
    assert record is not None
    assert record.source.location == ["/srv/wiki", "/srv/more"] and record.source.every == 1800
    assert record.source.overrides == {"finance": ["group:finance"]}
    assert record.source.credentials is not None and record.source.credentials.env == "LORE_SECRET_WIKI_TOKEN"
    assert record.source.added_by == CARL_ADMIN
    [entry] = await lore.audit.latest()
    assert (entry.who, entry.action, entry.target) == (CARL_ADMIN, "add", "wiki")
    assert "/srv/wiki" in entry.detail and "access=public" in entry.detail
    await lore.done()
    assert lore.worker.synced == [JobRequest(source_id="wiki", requested_by=CARL_ADMIN)]


async def test_an_existing_id_is_refused_in_the_modal(lore: Admin) -> None:
    await lore.registry.put(WIKI)
    view = await opened_modal(lore)
    _, body = await lore.bot.submit_view(CARL_ADMIN, view, GOOD)
    assert "already exists" in body["errors"]["source_id"]


async def test_one_line_add(lore: Admin) -> None:
    text = "add files wiki /srv/wiki,/srv/more access=public,group:finance every=6h override=hr:group:hr"
    assert "Added *wiki*" in await said(lore, CARL_ADMIN, text)
    record = await lore.registry.get("wiki")
    assert record is not None and record.source.access == ["group:finance", "public"]
    assert record.source.every == 6 * 3600 and record.source.overrides == {"hr": ["group:hr"]}
    [entry] = await lore.audit.latest()
    assert entry.action == "add" and entry.who == CARL_ADMIN
    await lore.done()
    assert [r.source_id for r in lore.worker.synced] == ["wiki"]


async def asked_to_remove(lore: Admin) -> dict[str, dict[str, Any]]:
    """`/lore remove wiki`; the confirmation's buttons by action_id."""
    await lore.registry.put(WIKI)
    [reply] = await lore.bot.replies(await lore.bot.command(CARL_ADMIN, "remove wiki"))
    assert reply["response_type"] == "ephemeral" and "/srv/wiki" in str(reply["blocks"])
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    return {button["action_id"]: button for button in actions["elements"]}


async def test_remove_asks_then_deletes_and_audits(lore: Admin) -> None:
    buttons = await asked_to_remove(lore)
    assert lore.worker.deleted == []
    assert await lore.bot.click(CARL_ADMIN, "CGENERAL", buttons["lore_remove_confirm"]) == 200
    [done] = await lore.bot.replies(f"{CARL_ADMIN}-lore_remove_confirm")
    assert "Removing *wiki*" in done["text"] and done["replace_original"] is True
    await lore.done()
    assert lore.worker.deleted == [JobRequest(source_id="wiki", requested_by=CARL_ADMIN)]
    [entry] = await lore.audit.latest()
    assert (entry.action, entry.target, entry.who) == ("remove", "wiki", CARL_ADMIN)


async def test_cancelled_remove_does_nothing(lore: Admin) -> None:
    buttons = await asked_to_remove(lore)
    assert await lore.bot.click(CARL_ADMIN, "CGENERAL", buttons["lore_remove_cancel"]) == 200
    [done] = await lore.bot.replies(f"{CARL_ADMIN}-lore_remove_cancel")
    assert "Cancelled" in done["text"]
    await lore.done()
    assert lore.worker.deleted == [] and await lore.audit.latest() == []


async def test_sync_when_already_running_says_so(lore: Admin) -> None:
    await lore.registry.put(WIKI)
    assert "queued" in await said(lore, CARL_ADMIN, "sync wiki")
    assert "already syncing" in await said(lore, CARL_ADMIN, "sync wiki")
    assert [e.action for e in await lore.audit.latest()] == ["sync"]
    await lore.done()
    assert len(lore.worker.synced) == 1


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("frobnicate", "Unknown command `frobnicate`", "/lore help | sources"),
        ("sync", "Missing the source id", "/lore sync <source>"),
        ("remove wiki extra", "takes one source id", "/lore remove <source>"),
        ("sync nope", "There is no source named *nope*", "/lore sync <source>"),
        ("sync Bad!", "Invalid source id", "/lore sync <source>"),
        ("sources everything", "takes no arguments", "/lore sources"),
        ("add files wiki", "Missing the folders", "/lore add files <id>"),
        (
            "add sharepoint wiki https://sp.example.com access=public",
            "Unknown kind 'sharepoint'",
            "/lore add files <id>",
        ),
        (
            "add files Wiki! /srv/wiki access=public",
            "the source id: invalid source id 'Wiki!'",
            "/lore add files",
        ),
        (
            "add files wiki srv/wiki access=public",
            "the folders: folders must be absolute paths",
            "/lore add files",
        ),
        (
            "add files wiki /srv/wiki access=everyone",
            "`access=`: invalid access 'everyone'",
            "/lore add files",
        ),
        ("add files wiki /srv/wiki", "`access=`: Required. Comma-separated: public", "/lore add files"),
        (
            "add files wiki /srv/wiki access=public every=soon",
            "`every=`: invalid schedule 'soon'",
            "/lore add",
        ),
        (
            "add files wiki /srv/wiki access=public override=:group:x",
            "`override=`: invalid override",
            "/lore add",
        ),
        ("add files wiki /srv/wiki access=public colour=blue", "Unknown option 'colour'", "/lore add"),
        ('add files wiki "/srv/wiki access=public', "a quote is not closed", "/lore help | sources"),
    ],
)
async def test_malformed_arguments_say_what_is_wrong_and_how_to_write_it(
    lore: Admin, text: str, problem: str, usage: str
) -> None:
    reply = await said(lore, CARL_ADMIN, text)
    assert problem in reply and "Usage: " in reply and usage in reply
    await nothing_changed(lore)


async def test_audit_shows_the_latest_changes_newest_first(lore: Admin) -> None:
    await said(lore, CARL_ADMIN, "add files wiki /srv/wiki access=public")
    await lore.done()
    await said(lore, CARL_ADMIN, "sync wiki")
    reply = await said(lore, CARL_ADMIN, "audit")
    assert reply.index("sync *wiki*") < reply.index("add *wiki*: files /srv/wiki access=public")
    assert f"<@{CARL_ADMIN}>" in reply and "<!date^" in reply


@pytest.mark.parametrize("lore", [["S1"], ["finance"], ["@finance"]], indirect=True)
async def test_admins_by_user_group(lore: Admin) -> None:
    await lore.registry.put(WIKI)
    assert "Only Lore admins" in await said(lore, BOB, "sync wiki")
    assert "Sync of *wiki* queued" in await said(lore, ANA, "sync wiki")


async def test_sources_and_status_show_others_only_what_they_may_read(lore: Admin) -> None:
    await lore.registry.put(WIKI)
    secret = Source(id="payroll", location=["/srv/payroll"], access=["group:finance"])
    await lore.registry.put(secret)
    bob = await said(lore, BOB, "sources")
    assert "*wiki*" in bob and "payroll" not in bob and "/srv" not in bob
    assert "payroll" in await said(lore, ANA, "sources")
    admin = await said(lore, CARL_ADMIN, "sources")
    assert "`/srv/payroll`" in admin and "access group:finance" in admin
    status = await said(lore, BOB, "status")
    assert "Sync queue" in status and "1 worker alive" in status and "payroll" not in status


async def test_a_share_is_shown_to_those_who_may_read_something_in_it(lore: Admin) -> None:
    """An smb source has no access of its own: whoever may read one of its indexed documents sees it.
    (The loaded index holds a finance-only page under the source id `finance`.)"""
    share = Source(
        id="finance",
        kind="smb",
        location=["smb://files/finance"],
        access=[],
        options={"user": "svc-lore"},
        credentials={"env": "SHARE_PASSWORD"},  # type: ignore[arg-type]
    )
    await lore.registry.put(share)
    assert "finance" not in await said(lore, BOB, "sources")
    ana = await said(lore, ANA, "sources")
    assert "*finance*" in ana and "smb://" not in ana


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h", 3600), ("every 6 hours", 21600), ("2d", 172800), ("Manual", 0)],
)
def test_schedules(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds
    assert parse_every(every_text(seconds)) == seconds


@pytest.mark.parametrize("text", ["2s", "1m", "31d", "soon", "-1h"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(ValueError, match="invalid schedule"):
        parse_every(text)


async def test_without_a_registry_source_commands_say_they_are_not_configured(
    loaded_kb: Knowledge, store: KeyValue, settings: Settings, slack: SlackStandin
) -> None:
    tuned = bot_settings(settings, slack, admins=[CARL_ADMIN])
    async with bot_harness(loaded_kb, [store], tuned, slack) as bot:
        for text in ("sources", "add files wiki /srv/wiki access=public", "sync wiki"):
            [reply] = await bot.replies(await bot.command(CARL_ADMIN, text))
            assert "not configured in this process" in reply["text"]
        [reply] = await bot.replies(await bot.command(CARL_ADMIN, "help"))
        assert "/lore sources" in reply["text"]
