"""Who is asking, and who can read the reply: Slack users and conversations turned into principals.

A full member of the workspace holds `public`, the grants the admin declares for every employee
(`LORE_EVERYONE_GRANTS`), `user:<email>` (users.info), `group:<handle>` for each Slack user group that lists
them, and `group:<name>` for each group of the directory file (read as it is now) that lists their email.
Guests, people of other workspaces and people Slack cannot tell about hold `public` only.

A reply is read by everyone who can open its conversation (ARCHITECTURE.md, "Audience"):
- a public channel: every full member of the workspace, members of the channel or not, so `public` plus the
  grants declared for everyone; `public` only if a guest, someone of another workspace or a bot is in it;
- a private channel or a group DM: its members, so what every one of them holds; a bot member other than
  Lore counts as holding `public` only unless the admin trusts it (`LORE_TRUSTED_BOTS`);
- a channel shared with another organisation or workspace, one too large to check, or one Slack will not
  describe: `public` only.
Members are read fresh for every question; people come from the cache of `bot.people`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.people import PAGE, LookupFailed, People, Person, retried
from knowledge.access import PUBLIC, AccessError, Principal, parse_access
from knowledge.directory import DirectoryFile
from knowledge.kv.base import KeyValue

log = logging.getLogger(__name__)

PUBLIC_ONLY = Principal.anonymous()
Kind = Literal["public", "private", "group_dm", "shared", "unknown", "too_large"]
WHY = {  # why a conversation's audience may read less than its asker, for the private offer
    "public": "everyone in the workspace can read this public channel",
    "private": "everyone in this channel must be allowed to read what I answer here",
    "group_dm": "everyone in this conversation must be allowed to read what I answer here",
    "shared": "this channel is shared with people outside your organisation",
    "unknown": "I could not tell who can read this conversation",
    "too_large": "this channel has too many members for me to check what they all may read",
}


class Audience(BaseModel):
    """What everyone who can read a conversation holds, and what kind of conversation it is."""

    principal: Principal
    kind: Kind

    @property
    def why(self) -> str:
        """Why the audience may read less than the asker, in words."""
        return WHY[self.kind]


def kind_of(info: dict[str, Any]) -> Kind:
    """The kind of a conversation from its conversations.info object."""
    if info.get("is_ext_shared") or info.get("is_shared") or info.get("is_org_shared"):
        return "shared"
    if info.get("is_mpim"):
        return "group_dm"
    if info.get("is_private") or info.get("is_group") or info.get("is_im"):
        return "private"
    return "public" if info.get("is_channel") else "unknown"


class Identity:
    """Principals of people and audiences of conversations."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: KeyValue,
        directory: DirectoryFile,
        *,
        ttl: int,
        max_members: int,
        bot_user_id: str | None = None,
        everyone: Iterable[str] = (),
        trusted_bots: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.people = People(client, store, ttl=ttl)
        self.directory = directory
        self.max_members = max_members
        self.bot_user_id = bot_user_id
        self.everyone = frozenset(everyone) | {PUBLIC}
        self.trusted_bots = frozenset(trusted_bots) | {"USLACKBOT"}

    async def person(self, team: str, user: str) -> Person:
        """The user as Slack describes them (cached)."""
        return await self.people.person(team, user)

    async def slack_groups(self, team: str) -> dict[str, list[str]]:
        """Slack user group handle -> member ids (cached)."""
        return await self.people.slack_groups(team)

    async def principal(self, team: str, user: str) -> Principal:
        """What this person may read."""
        person = await self.people.person(team, user)
        if not self._full_member(team, person):
            return PUBLIC_ONLY
        return self._holds(person, await self.people.slack_groups(team))

    async def audience(self, team: str, channel: str) -> Audience:
        """What everyone who can read `channel` holds (see the module docstring)."""
        try:
            info = (await retried(partial(self.client.conversations_info, channel=channel))).get("channel")
        except (SlackApiError, LookupFailed) as exc:
            log.warning("cannot describe %s (%s): answering from public content", channel, exc)
            return Audience(principal=PUBLIC_ONLY, kind="unknown")
        kind = kind_of(info or {})
        if kind in ("shared", "unknown"):
            return Audience(principal=PUBLIC_ONLY, kind=kind)
        if kind == "public" and self.everyone == {PUBLIC}:
            return Audience(principal=PUBLIC_ONLY, kind=kind)  # whoever is in it, nobody holds less
        try:
            members = await self._members(channel)
        except (SlackApiError, LookupFailed) as exc:
            log.warning("cannot list the members of %s (%s): answering from public content", channel, exc)
            return Audience(principal=PUBLIC_ONLY, kind="unknown")
        if members is None:
            return Audience(principal=PUBLIC_ONLY, kind="too_large")
        readers = await self._readers(team, members)
        if kind == "public":  # every full member may read it: members matter only if one holds less
            full = all(self.everyone <= r.grants for r in readers)
            return Audience(principal=Principal(grants=self.everyone) if full else PUBLIC_ONLY, kind=kind)
        common = frozenset.intersection(*(r.grants for r in readers)) if readers else frozenset()
        return Audience(principal=Principal(grants=common | {PUBLIC}), kind=kind)

    async def only_full_members(self, team: str, channel: str) -> bool:
        """True when `channel` is a public channel of this workspace whose members are all full members
        (no guest, outsider or other bot): everyone who reads it may open every other public channel."""
        try:
            info = (await retried(partial(self.client.conversations_info, channel=channel))).get("channel")
            if kind_of(info or {}) != "public":
                return False
            members = await self._members(channel)
            if members is None:
                return False
            users = [u for u in members if u != self.bot_user_id]
            people = await self.people.many(team, users)
        except (SlackApiError, LookupFailed) as exc:
            log.warning("cannot tell who is in %s (%s): Slack is not searched for it", channel, exc)
            return False
        return all(people[u].deleted or self._full_member(team, people[u]) for u in users)

    async def _readers(self, team: str, members: list[str]) -> list[Principal]:
        """The principal of every member who reads the conversation (Lore and trusted bots are left out;
        deactivated people cannot read)."""
        users = [u for u in members if u != self.bot_user_id and u not in self.trusted_bots]
        people = await self.people.many(team, users)
        groups = await self.people.slack_groups(team)
        readers = []
        for user in users:
            person = people[user]
            if person.deleted:
                continue
            if person.is_bot or not self._full_member(team, person):
                readers.append(PUBLIC_ONLY)  # an integration, a guest, an outsider, or unknown
            else:
                readers.append(self._holds(person, groups))
        return readers

    def _full_member(self, team: str, person: Person) -> bool:
        return person.found and not person.guest and not person.is_bot and person.team in (None, team)

    def _holds(self, person: Person, groups: dict[str, list[str]]) -> Principal:
        """What a full member holds, given the workspace's Slack user groups and the directory now."""
        grants = set(self.everyone)
        for handle, members in groups.items():
            if person.user in members:
                _grant(grants, f"group:{handle}")
        if person.email:
            _grant(grants, f"user:{person.email}")
            for name in self.directory.current().groups_of(person.email):
                _grant(grants, f"group:{name}")
        return Principal(grants=frozenset(grants))

    async def _members(self, channel: str) -> list[str] | None:
        """Every member id, or None when there are more than `max_members`."""
        members: list[str] = []
        cursor = ""
        while True:
            page = await retried(
                partial(self.client.conversations_members, channel=channel, cursor=cursor, limit=PAGE)
            )
            members.extend(page.get("members") or [])
            if len(members) > self.max_members:
                log.info("%s has over %d members: answering from public content", channel, self.max_members)
                return None
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return members


def _grant(grants: set[str], value: str) -> None:
    try:
        grants.add(parse_access(value))
    except AccessError:
        log.warning("ignoring %r: it is not a valid access string", value)
