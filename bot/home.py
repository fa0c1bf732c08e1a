"""Lore's App Home: how to ask, and the sources. Admins see every source's health, folders and last error
and can add one, and the review of the answers' feedback; everyone else sees only the ids and last syncs of
the sources they may read."""

from __future__ import annotations

from bot.admin.views import HOW_TO_ASK, Block, ago, described, health, last_error
from knowledge.sources import SourceRecord

HOME_ADD = "lore_home_add"  # the "Add a source" button
MAX_BLOCKS = 100  # Slack's limit for a Home tab
SECTION_CHARS = 3000
ADMIN_ROOM = MAX_BLOCKS - 16  # blocks for sources; the rest: header, help, notes and the feedback review
NOT_CONFIGURED = "Source management is not configured in this process."
UNREADABLE = "I can't read the list of sources right now: try again in a minute."


def home_view(
    records: list[SourceRecord] | None,
    now: float,
    *,
    admin: bool,
    configured: bool = True,
    feedback: list[Block] | None = None,
) -> Block:
    """The Home tab of one person; `records` are the sources they may know about (None: unreadable);
    `feedback` the admins' review (`bot/admin/feedback_view.py`), shown to admins only."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Lore", "emoji": True}},
        _section(
            "*Lore* answers questions from your wiki and file shares, citing its sources.\n" + HOW_TO_ASK
        ),
        _context("`/lore help` lists the commands."),
        {"type": "divider"},
    ]
    if admin:
        blocks += _admin_sources(records, now, configured)
        blocks += [{"type": "divider"}, *feedback] if feedback else []
    elif configured and records is not None:
        blocks += _readable_sources(records, now)
    return {"type": "home", "blocks": blocks}


def _admin_sources(records: list[SourceRecord] | None, now: float, configured: bool) -> list[Block]:
    if not configured:
        return [_section("*Sources*"), _context(NOT_CONFIGURED)]
    add = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Add a source", "emoji": True},
        "action_id": HOME_ADD,
        "style": "primary",
    }
    blocks: list[Block] = [_section("*Sources*") | {"accessory": add}]
    if records is None:
        return [*blocks, _context(UNREADABLE)]
    if not records:
        return [*blocks, _context("No sources yet: add one with the button or `/lore add`.")]
    for n, record in enumerate(records):
        shown = [
            _section(f"*{record.source.id}* · {health(record, now)}"),
            _context(described(record.source)),
        ]
        if error := last_error(record.status):
            shown.append(_context(error))
        if len(blocks) + len(shown) > ADMIN_ROOM:
            blocks.append(_context(f"+{len(records) - n} more: `/lore sources` lists them all."))
            break
        blocks += shown
    return blocks


def _readable_sources(records: list[SourceRecord], now: float) -> list[Block]:
    if not records:
        return [
            _section("*Sources you can read*\nNone yet: ask a Lore admin to add your team's wiki or share.")
        ]
    lines = [f"• *{r.source.id}* · last sync {ago(r.status.last_sync, now)}" for r in records]
    text = "*Sources you can read*"
    for n, line in enumerate(lines):
        if len(text) + len(line) + 60 > SECTION_CHARS:
            text += f"\n+{len(lines) - n} more: `/lore sources` lists them all."
            break
        text += "\n" + line
    return [_section(text)]


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_CHARS]}]}
