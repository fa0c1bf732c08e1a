"""What `/lore` and the add-source modal show: pure functions from sources, queue and audit entries to
mrkdwn text and Block Kit. Paths, errors and summaries come from outside Lore, so they are escaped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.admin.channel_setup import USAGE as CHANNEL_USAGE
from bot.admin.source_fields import KINDS, FieldSpec
from bot.admin.source_input import ADD_USAGE, every_text
from bot.mrkdwn import clip, escape
from knowledge.access import Principal, intersect
from knowledge.audit import AuditEntry
from knowledge.index.base import Index, IndexUnavailable
from knowledge.jobs import QueueStatus
from knowledge.kinds.catalog import installed_kinds
from knowledge.sources import Source, SourceRecord, SourceStatus, kind_warning

log = logging.getLogger(__name__)

Block = dict[str, Any]

ADD_VIEW = "lore_add_source"  # callback_id of the modal
ADD_KIND = "lore_add_kind"  # the kind select: changing it redraws the modal's fields
KIND_BLOCK = "kind"
VALUE = "value"  # action_id of every text input of the modal
REMOVE_CONFIRM = "lore_remove_confirm"
REMOVE_CANCEL = "lore_remove_cancel"
REMOVE_BLOCK = "lore_remove"
TEXT_CHARS = 38000  # a message's text stays under Slack's 40,000
ERROR_CHARS = 300

USAGE = {
    "help": "`/lore help`",
    "sources": "`/lore sources`",
    "status": "`/lore status`",
    "add": ADD_USAGE,
    "remove": "`/lore remove <source>`",
    "sync": "`/lore sync <source> [--allow-deletes]`",
    "audit": "`/lore audit`",
    "apikey": (
        "`/lore apikey create <name> [access=group:NAME,user:EMAIL] [rate=N]` | `/lore apikey list` | "
        "`/lore apikey revoke <name>`"
    ),
    "channel": CHANNEL_USAGE,
}
COMMANDS = (
    "Usage: `/lore help | sources | status | add … | remove <source> | sync <source> | audit | apikey … | "
    "channel …`"
)
HOW_TO_ASK = (
    "• Mention me in a channel (`@Lore how do I …?`): I answer in the thread from what everyone in the "
    "channel may read, and offer a private answer when you alone may read more.\n"
    "• Write to me in a DM or in the assistant pane: I answer from what you may read.\n"
    "• Follow-ups in a thread where I answered need no mention."
)
HELP = (
    "*Lore* answers questions from your wiki and file shares, citing its sources.\n"
    f"{HOW_TO_ASK}\n\n"
    "*`/lore` commands*\n"
    "• `/lore sources`: the sources you may read and when they were last synced\n"
    "• `/lore status`: the sync queue and workers\n"
    "Admins (LORE_ADMINS) also have:\n"
    "• `/lore add`: add a source (a form), or in one line: " + ADD_USAGE + "\n"
    "• `/lore remove <source>`: remove a source and its documents from the index\n"
    "• `/lore sync <source>`: sync a source now (`--allow-deletes` confirms deletions it held back)\n"
    "• `/lore audit`: the latest changes, who made them and when\n"
    "• `/lore apikey create <name> [access=group:NAME,user:EMAIL] [rate=N]`: a Knowledge API key for a "
    "program or AI agent (`lore api`, `lore mcp`), shown once, to you only\n"
    "• `/lore apikey list`: every API key, what it may read and its rate\n"
    "• `/lore apikey revoke <name>`: refuse a key from now on\n"
    "• `/lore channel …`, typed in a channel: which sources it answers from, every question or only "
    "mentions, answers only the asker sees, a writing preset (`/lore channel` shows it)"
)


def usage(command: str) -> str:
    """The usage line of one subcommand."""
    return f"Usage: {USAGE[command]}"


def visible(records: Iterable[SourceRecord], principal: Principal) -> list[SourceRecord]:
    """The sources this person may know about: their default access or one of their overrides, under the
    source's ceiling, meets them."""

    def readable(acl: list[str], ceiling: list[str] | None) -> bool:
        return principal.can_read(acl if ceiling is None else intersect(acl, ceiling))

    return [
        r
        for r in records
        if readable(r.source.access, r.source.ceiling)
        or any(readable(acl, r.source.ceiling) for acl in r.source.overrides.values())
    ]


async def known_to(
    records: list[SourceRecord], principal: Principal, index: Index | None
) -> list[SourceRecord]:
    """`visible`, plus each source whose documents carry their own access (smb, confluence) when the index
    holds something of it this person may read; if the index cannot tell, such a source is not shown."""
    shown = visible(records, principal)
    for record in records:
        kind = installed_kinds().get(record.source.kind)
        if record in shown or kind is None or not kind.own_access or index is None:
            continue
        try:
            if await index.count(record.source.id, grants=principal.sorted()):
                shown.append(record)
        except IndexUnavailable as exc:
            log.warning("cannot tell whether %s is readable: %s", record.source.id, exc)
    return sorted(shown, key=lambda r: r.source.id)


def ago(then: float | None, now: float) -> str:
    """`never`, `just now`, `12 min ago`, `3 h ago`, `2 days ago`."""
    if then is None:
        return "never"
    seconds = max(0, int(now - then))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def when(at: float) -> str:
    """A moment Slack shows in the reader's time zone (with a UTC fallback)."""
    fallback = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def outcome(status: SourceStatus) -> str:
    """✅ ok / ❌ failed / not synced yet."""
    if status.ok is None:
        return "not synced yet"
    return "✅ ok" if status.ok else "❌ failed"


def health(record: SourceRecord, now: float) -> str:
    """State, last sync, outcome and counts of one source (for admins)."""
    s = record.status
    counts = (
        f"{s.added} added, {s.updated} updated, {s.unchanged} unchanged, {s.deleted} deleted, "
        f"{s.failed} failed · {s.in_index} chunks"
    )
    parts = [s.state, f"last sync {ago(s.last_sync, now)}", outcome(s)]
    return " · ".join([*parts, counts] if s.last_sync is not None else parts)


def described(source: Source) -> str:
    """Kind, folders, access, overrides, ceiling, schedule and credentials reference of a source (for
    admins)."""
    folders = ", ".join(f"`{escape(p)}`" for p in source.location)
    access = ", ".join(source.access) or "from the source's own permissions"
    parts = [source.kind, folders, "access " + escape(access)]
    parts += [f"{escape(k)}={escape(v)}" for k, v in sorted(source.options.items())]
    if source.overrides:
        shown = "; ".join(f"{escape(f)}: {escape(', '.join(a))}" for f, a in source.overrides.items())
        parts.append(f"overrides {shown}")
    if source.ceiling is not None:
        parts.append(f"ceiling {escape(', '.join(source.ceiling))}")
    parts.append(every_text(source.every))
    if source.credentials is not None:
        ref = source.credentials.env or source.credentials.file or ""
        parts.append(f"credentials `{escape(ref)}`")
    return " · ".join(parts)


def last_error(status: SourceStatus) -> str:
    """The most recent error of a source (and how many more), or "" when its last sync went well."""
    if status.errors:
        more = len(status.errors) - 1
        tail = f" (+{more} more)" if more else ""
        return f"Last error: {escape(clip(status.errors[0], ERROR_CHARS))}{tail}"
    if status.ok is False:
        return f"Last error: {escape(clip(status.summary, ERROR_CHARS)) or 'the sync failed'}"
    return ""


def sources_text(records: list[SourceRecord], now: float, *, admin: bool) -> str:
    """`/lore sources`: everything for admins; only ids and last syncs for everyone else."""
    if not records:
        if admin:
            return "No sources yet: add one with `/lore add`."
        return "There are no sources you may read yet: ask a Lore admin to add one."
    lines = []
    for r in records:
        if admin:
            lines.append(f"*{r.source.id}* · {health(r, now)}\n      {described(r.source)}")
            warning = kind_warning(r.source)
            if warning and warning not in r.status.summary:
                lines.append(f"      ⚠️ {escape(warning)}")  # before a sync says so
            if error := last_error(r.status):
                lines.append(f"      {error}")
        else:
            lines.append(f"• *{r.source.id}* · last sync {ago(r.status.last_sync, now)}")
    return _capped("*Sources*\n" + "\n".join(lines))


def status_text(queue: QueueStatus, records: list[SourceRecord], now: float, *, admin: bool) -> str:
    """`/lore status`: queue depth, running jobs, live workers and the state of each source. `records` are
    the sources the viewer may read; someone who is not an admin sees no job of any other source, not even
    counted (a count would tell that an unseen source exists and is being synced)."""
    shown = {r.source.id for r in records}
    queued = queue.queued if admin else sum(s in shown for s in queue.queued_sources)
    running = [
        escape(s) + (" (removing)" if s in queue.removing else "")
        for s in queue.running
        if admin or s in shown
    ]
    doing = ", ".join(running) or "nothing"
    workers = f"{queue.workers} worker" + ("" if queue.workers == 1 else "s")
    lines = [f"*Sync queue*: {queued} queued · running {doing} · {workers} alive"]
    if queue.detail:
        lines.append(escape(queue.detail))
    lines += [
        f"• *{r.source.id}* · {r.status.state} · last sync {ago(r.status.last_sync, now)}" for r in records
    ]
    return _capped("\n".join(lines))


def audit_text(entries: list[AuditEntry]) -> str:
    """`/lore audit`: newest first, who did what to which source, and when."""
    if not entries:
        return "No changes recorded yet."
    lines = ["*Latest changes* (newest first)"]
    for e in entries:
        who = f"<@{e.who}>" if e.who[:1] in "UW" and e.who.isalnum() else escape(e.who)
        what = f"{escape(e.action)} *{escape(e.target)}*" if e.target else escape(e.action)
        detail = f": {escape(clip(e.detail, ERROR_CHARS))}" if e.detail else ""
        lines.append(f"• {when(e.at)} {who} {what}{detail}")
    return _capped("\n".join(lines))


def audit_detail(source: Source) -> str:
    """A source in one line for the audit log: `files /srv/wiki access=public every 1h`."""
    parts = [source.kind, *source.location]
    parts += ["access=" + ",".join(source.access)] if source.access else []
    parts += [f"{k}={v}" for k, v in sorted(source.options.items())]
    parts += [f"override={folder}:{','.join(acl)}" for folder, acl in source.overrides.items()]
    parts += ["ceiling=" + ",".join(source.ceiling)] if source.ceiling is not None else []
    parts.append(every_text(source.every))
    if source.credentials is not None:
        parts.append(f"credentials={source.credentials.env or source.credentials.file}")
    return " ".join(parts)


def taken(source_id: str) -> str:
    """The answer to adding an id that is in use."""
    return (
        f"A source named *{source_id}* already exists: pick another id, or `/lore remove {source_id}` first."
    )


def _capped(text: str) -> str:
    return text if len(text) <= TEXT_CHARS else text[: text.rfind("\n", 0, TEXT_CHARS)] + "\n…"


def add_modal(kind: str, metadata: dict[str, str]) -> Block:
    """The add-source modal: a kind select, then the fields that kind asks for."""
    form = KINDS[kind]
    options = {k: _option(f.label, k) for k, f in KINDS.items()}
    kind_select = {
        "type": "input",
        "block_id": KIND_BLOCK,
        "dispatch_action": True,
        "label": _plain("Kind of source"),
        "element": {
            "type": "static_select",
            "action_id": ADD_KIND,
            "options": list(options.values()),
            "initial_option": options[kind],
        },
    }
    return {
        "type": "modal",
        "callback_id": ADD_VIEW,
        "private_metadata": json.dumps({**metadata, "kind": kind}),
        "title": _plain("Add a source"),
        "submit": _plain("Add"),
        "close": _plain("Cancel"),
        "blocks": [kind_select, *(_input(spec) for spec in form.fields)],
    }


def _input(spec: FieldSpec) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": VALUE, "multiline": spec.multiline}
    if spec.placeholder:
        element["placeholder"] = _plain(spec.placeholder)
    if spec.initial:
        element["initial_value"] = spec.initial
    return {
        "type": "input",
        "block_id": spec.name,
        "optional": spec.optional,
        "label": _plain(spec.label),
        "hint": _plain(spec.hint),
        "element": element,
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id -> typed text of a submitted modal (`view.state.values`, as Slack sends it)."""
    values: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for action in actions.values():
            if action.get("type") == "static_select":
                values[block_id] = str((action.get("selected_option") or {}).get("value") or "")
            elif action.get("type") == "multi_static_select":
                values[block_id] = ",".join(str(o.get("value")) for o in action.get("selected_options") or [])
            elif action.get("type") == "conversations_select":
                values[block_id] = str(action.get("selected_conversation") or "")
            else:
                values[block_id] = str(action.get("value") or "")
    return values


def remove_blocks(record: SourceRecord) -> list[Block]:
    """The confirmation of `/lore remove`: what goes, and Confirm/Cancel buttons carrying the source id."""
    source = record.source
    text = (
        f"Remove *{source.id}* ({described(source)})? Its {record.status.in_index} chunks are deleted from "
        "the index and Lore stops syncing it. This cannot be undone."
    )
    confirm = _button("Remove", REMOVE_CONFIRM, source.id) | {"style": "danger"}
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": _capped(text)[:3000]}},
        {
            "type": "actions",
            "block_id": REMOVE_BLOCK,
            "elements": [confirm, _button("Cancel", REMOVE_CANCEL, source.id)],
        },
    ]


def cancelled(source_id: str) -> str:
    """What replaces the confirmation when Cancel is pressed."""
    return f"Cancelled: *{escape(source_id)}* stays."


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def _option(label: str, value: str) -> Block:
    return {"text": _plain(label), "value": value}


def _button(label: str, action_id: str, value: str) -> Block:
    return {"type": "button", "text": _plain(label), "action_id": action_id, "value": value}


def metadata(view: dict[str, Any]) -> dict[str, str]:
    """The private metadata of a modal (what it was opened for), as strings."""
    try:
        loaded = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def who(body: dict[str, Any], team_id: str) -> tuple[str, str]:
    """(team, user) of an interaction payload; `team_id` when the payload names no team."""
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or team_id
    return str(team), str(user.get("id"))
