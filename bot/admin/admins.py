"""Who may change Lore's sources from Slack: LORE_ADMINS, a list of Slack user ids and user groups."""

from __future__ import annotations

import logging
import re
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import Identity

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_GROUP_ID = re.compile(r"^(?:<!subteam\^)?(S[A-Z0-9]+)(?:\|[^>]*)?>?$")  # S123, or <!subteam^S123|@x>


class Admins:
    """Who may change sources: LORE_ADMINS lists Slack user ids and user groups (by id `S…` or handle)."""

    def __init__(self, entries: list[str], identity: Identity, client: AsyncWebClient, *, ttl: int) -> None:
        self.users = {e for e in entries if _USER_ID.match(e)}
        self.group_ids = {m.group(1) for e in entries if (m := _GROUP_ID.match(e))}
        self.handles = {
            e.strip().lstrip("@").lower() for e in entries if e not in self.users and not _GROUP_ID.match(e)
        }
        self.identity = identity
        self.client = client
        self.ttl = ttl
        self._by_id: dict[str, tuple[float, dict[str, list[str]]]] = {}  # team -> (when, group id -> users)

    @property
    def configured(self) -> bool:
        return bool(self.users or self.group_ids or self.handles)

    async def check(self, team: str, user: str) -> bool:
        """True when `user` is a listed admin or a member of a listed user group."""
        if user in self.users:
            return True
        if self.handles:
            groups = await self.identity.slack_groups(team)
            if any(user in groups.get(handle, []) for handle in self.handles):
                return True
        if self.group_ids:
            groups = await self._groups_by_id(team)
            return any(user in groups.get(group, []) for group in self.group_ids)
        return False

    async def _groups_by_id(self, team: str) -> dict[str, list[str]]:
        cached = self._by_id.get(team)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            listed = (await self.client.usergroups_list(include_users=True)).get("usergroups") or []
        except SlackApiError as exc:
            log.warning("usergroups.list failed (%s): admins by user group are unknown", exc)
            return {}
        groups = {str(g["id"]): list(g.get("users") or []) for g in listed if g.get("id")}
        self._by_id[team] = (time.monotonic(), groups)
        return groups

    def named(self) -> str:
        """Who to ask, as Slack shows it."""
        shown = [f"<@{u}>" for u in sorted(self.users)] + [f"<!subteam^{g}>" for g in sorted(self.group_ids)]
        return ", ".join(shown + [f"@{h}" for h in sorted(self.handles)])

    def refusal(self, what: str) -> str:
        """The answer to someone who may not do `what`."""
        if not self.configured:
            return (
                f"Only Lore admins can {what}, and none are configured: set LORE_ADMINS (Slack user ids or a "
                "user group) where Lore runs. Nothing was changed."
            )
        return f"Only Lore admins can {what}; nothing was changed. Ask one of them: {self.named()}."
