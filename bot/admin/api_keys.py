"""`/lore apikey create|list|revoke`: admins manage Knowledge API keys from Slack.

The caller (`SourceAdmin`) has checked that the user is an admin. A new key appears in one place only: the
ephemeral answer to the admin who created it. It is never logged, audited or posted in a channel.
"""

from __future__ import annotations

import logging
import time

from bot.admin.views import TEXT_CHARS, usage, when
from bot.mrkdwn import escape
from knowledge.access import ACCESS_HELP, PUBLIC, parse_acl
from knowledge.apikeys import ApiKey, ApiKeyError, ApiKeys, check_name
from knowledge.audit import AuditEntry, AuditLog

log = logging.getLogger(__name__)
# slack_sdk's webhook client (behind `respond`) logs whole request bodies at DEBUG; the answer to `create`
# holds a key, which must never reach a log, whatever level the root logger is at
logging.getLogger("slack_sdk.webhook.async_client").setLevel(logging.INFO)

NOT_CONFIGURED = (
    "API keys are not configured in this process: `lore bot` manages them when it runs with its key store "
    "and audit log. From a terminal, `lore apikey create|list|revoke` does the same."
)
ACTIONS = "create, list or revoke"
CREATE_OPTIONS = ("access", "rate")
EXAMPLE = "`/lore apikey create support-agent access=group:support rate=120`"
SHOWN_ONCE = (
    "This is the only time the key is shown, and only to you: Lore keeps just its hash, so copy it now. "
    "A program sends it as `Authorization: Bearer <key>` to `lore api`; `lore mcp` reads it from "
    "`LORE_MCP_KEY`."
)


class KeyAdmin:
    """Carries out `/lore apikey …` for an admin; `keys` or `audit` None means this process has no keys."""

    def __init__(self, keys: ApiKeys | None, audit: AuditLog | None, *, default_rate: int) -> None:
        self.keys = keys
        self.audit = audit
        self.default_rate = default_rate

    async def command(self, args: list[str], user: str) -> str:
        """The answer to `/lore apikey <args>` from admin `user` (ephemeral: it may hold a new key)."""
        if self.keys is None or self.audit is None:
            return NOT_CONFIGURED
        if not args:
            return f"Missing what to do with API keys: {ACTIONS}.\n{usage('apikey')}"
        action, rest = args[0].lower(), args[1:]
        if action == "create":
            return await self._create(self.keys, rest, user)
        if action == "list":
            if rest:
                return f"`/lore apikey list` takes no arguments.\n{usage('apikey')}"
            return keys_text(await self.keys.all())
        if action == "revoke":
            return await self._revoke(self.keys, rest, user)
        return f"Unknown `/lore apikey` command `{escape(action)}`: use {ACTIONS}.\n{usage('apikey')}"

    async def _create(self, keys: ApiKeys, words: list[str], user: str) -> str:
        try:
            name, grants, rate = create_args(words, self.default_rate)
            record, key = await keys.create(name, grants, rate, created_by=user)
        except ValueError as exc:  # ApiKeyError, AccessError or a malformed option
            return f"{_sentence(escape(str(exc)))}\n{usage('apikey')}"
        await self._record(user, "apikey-create", record)
        log.info("API key %s (%s) created by %s", record.name, record.id, user)
        return created_text(record, key)

    async def _revoke(self, keys: ApiKeys, words: list[str], user: str) -> str:
        if len(words) != 1:
            problem = "Missing the key's name." if not words else "`/lore apikey revoke` takes one key name."
            return f"{problem}\n{usage('apikey')}"
        try:
            record = await keys.revoke(words[0])
        except ApiKeyError:
            return (
                f"There is no active API key named *{escape(words[0])}*: `/lore apikey list` shows them.\n"
                f"{usage('apikey')}"
            )
        await self._record(user, "apikey-revoke", record)
        log.info("API key %s (%s) revoked by %s", record.name, record.id, user)
        return f"Revoked API key *{record.name}* (`{record.id}`): requests with it are refused from now on."

    async def _record(self, user: str, action: str, record: ApiKey) -> None:
        assert self.audit is not None
        entry = AuditEntry(
            at=time.time(), who=user, action=action, target=record.name, detail=audit_detail(record)
        )
        await self.audit.record(entry)


def audit_detail(record: ApiKey) -> str:
    """What the audit log says about a key: its grants and rate, never the key."""
    return f"access={','.join(record.grants)} rate={record.rate_limit}"


def create_args(words: list[str], default_rate: int) -> tuple[str, list[str], int]:
    """`<name> [access=…] [rate=N]` -> (name, grants, rate); ValueError says what is wrong."""
    if not words or "=" in words[0]:
        raise ValueError(f"missing the key's name, e.g. {EXAMPLE}")
    name, *options = words
    check_name(name)
    access: list[str] = []
    rate = default_rate
    for word in options:
        option, has_value, value = word.partition("=")
        if not has_value or option.lower() not in CREATE_OPTIONS:
            raise ValueError(f"unknown option {word!r}: `create` takes `access=` and `rate=`, e.g. {EXAMPLE}")
        if option.lower() == "rate":
            rate = parse_rate(value)
            continue
        given = [v for v in value.split(",") if v.strip()]
        if not given:
            raise ValueError(f"`access=` is empty: {ACCESS_HELP}")
        access += given
    return name, parse_acl([*access, PUBLIC]), rate


def parse_rate(value: str) -> int:
    """Requests per minute (0 = no limit), or ValueError saying what to write."""
    text = value.strip()
    if not text.isdigit():
        raise ValueError(
            f"invalid rate {value!r}: `rate=` is requests per minute, a whole number (0 = no limit), "
            "e.g. rate=120"
        )
    return int(text)


def rate_text(rate: int) -> str:
    """`120 requests/minute` or `no rate limit`."""
    return f"{rate} requests/minute" if rate else "no rate limit"


def created_text(record: ApiKey, key: str) -> str:
    """The answer to `create`: what the key may do, the key itself, and that it is shown once."""
    return (
        f"Created API key *{record.name}* (`{record.id}`): reads {escape(', '.join(record.grants))} · "
        f"{rate_text(record.rate_limit)}.\n```{key}```\n{SHOWN_ONCE} Lost or leaked? "
        f"`/lore apikey revoke {record.name}`, then create another."
    )


def keys_text(records: list[ApiKey]) -> str:
    """`/lore apikey list`: every key, oldest first, revoked ones struck through and marked."""
    if not records:
        return f"No API keys yet: {EXAMPLE} creates one."
    lines = ["*API keys* (oldest first)"]
    for k in records:
        name = f"*{k.name}*" if k.active else f"~{k.name}~ *revoked* {when(k.revoked_at or 0)}"
        lines.append(
            f"• {name} `{k.id}` · reads {escape(', '.join(k.grants))} · {rate_text(k.rate_limit)} · "
            f"created {when(k.created_at)} by {_who(k.created_by)}"
        )
    text = "\n".join(lines)
    return text if len(text) <= TEXT_CHARS else text[: text.rfind("\n", 0, TEXT_CHARS)] + "\n…"


def _who(created_by: str) -> str:
    if created_by[:1] in "UW" and created_by.isalnum():
        return f"<@{created_by}>"
    return escape(created_by) or "unknown"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
