"""Who is asking, and who will read the reply: Slack users and channels turned into principals.

A person holds `public`, `user:<email>` (from users.info), `group:<handle>` for each Slack user group that
lists them, and `group:<name>` for each directory-file group that lists their email. Guests and people of
other organisations hold `public` only. A channel's audience holds what every (human) member holds; a
channel shared with another organisation, or too large to check, holds `public` only.
"""

from __future__ import annotations

import asyncio
import json
import logging

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import keys
from knowledge.access import PUBLIC, AccessError, Directory, Principal, parse_access
from knowledge.kv.base import KeyValue

log = logging.getLogger(__name__)

LOOKUPS = 8  # concurrent users.info calls while resolving a channel
PUBLIC_ONLY = Principal.anonymous()


class Person(BaseModel):
    """What Lore needs to know of a Slack user (cached)."""

    user: str
    team: str | None = None
    email: str | None = None
    is_bot: bool = False
    guest: bool = False
    found: bool = True


class Identity:
    """Principals of people and audiences of channels, cached in the shared store for `ttl` seconds."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: KeyValue,
        directory: Directory,
        *,
        ttl: int,
        max_members: int,
        bot_user_id: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.directory = directory
        self.ttl = ttl
        self.max_members = max_members
        self.bot_user_id = bot_user_id

    async def person(self, team: str, user: str) -> Person:
        """The user's email and flags (users.info); an unknown user is `found=False`."""
        key = keys.person(team, user)
        if self.ttl and (cached := await self.store.get(key)):
            return Person.model_validate_json(cached)
        try:
            info = (await self.client.users_info(user=user)).get("user") or {}
        except SlackApiError as exc:
            log.warning("users.info %s failed (%s): treating them as holding public only", user, exc)
            person = Person(user=user, found=False)
        else:
            email = (info.get("profile") or {}).get("email")
            person = Person(
                user=user,
                team=info.get("team_id"),
                email=email.lower() if isinstance(email, str) and email else None,
                is_bot=bool(info.get("is_bot")) or user == "USLACKBOT",
                guest=bool(info.get("is_restricted") or info.get("is_ultra_restricted")),
            )
        if self.ttl:
            await self.store.set(key, person.model_dump_json(), self.ttl)
        return person

    async def slack_groups(self, team: str) -> dict[str, list[str]]:
        """Slack user group handle -> member ids (usergroups.list); empty when the scope is missing."""
        key = keys.usergroups(team)
        if self.ttl and (cached := await self.store.get(key)):
            groups: dict[str, list[str]] = json.loads(cached)
            return groups
        try:
            listed = (await self.client.usergroups_list(include_users=True)).get("usergroups") or []
        except SlackApiError as exc:
            log.warning("usergroups.list failed (%s): Slack user groups grant nothing until it works", exc)
            return {}  # not cached: the next question tries again
        groups = {str(g["handle"]).lower(): list(g.get("users") or []) for g in listed if g.get("handle")}
        if self.ttl:
            await self.store.set(key, json.dumps(groups), self.ttl)
        return groups

    async def principal(self, team: str, user: str) -> Principal:
        """What this person may read."""
        person = await self.person(team, user)
        if not person.found or person.guest or (person.team is not None and person.team != team):
            return PUBLIC_ONLY
        grants = {PUBLIC}
        for handle, members in (await self.slack_groups(team)).items():
            if user in members:
                _grant(grants, f"group:{handle}")
        if person.email:
            _grant(grants, f"user:{person.email}")
            for name in self.directory.groups_of(person.email):
                _grant(grants, f"group:{name}")
        return Principal(grants=frozenset(grants))

    async def audience(self, team: str, channel: str) -> Principal:
        """What every human member of the channel may read (members are read fresh each time)."""
        try:
            info = (await self.client.conversations_info(channel=channel)).get("channel") or {}
            if info.get("is_ext_shared") or info.get("is_shared") or info.get("is_org_shared"):
                return PUBLIC_ONLY
            members = await self._members(channel)
        except SlackApiError as exc:
            log.warning("cannot list the members of %s (%s): answering from public content", channel, exc)
            return PUBLIC_ONLY
        if members is None:
            return PUBLIC_ONLY
        limit = asyncio.Semaphore(LOOKUPS)

        async def of(user: str) -> Principal | None:
            async with limit:
                person = await self.person(team, user)
                if person.is_bot:
                    return None  # bots (Lore itself, integrations) are not readers
                return await self.principal(team, user)

        found = [p for p in await asyncio.gather(*(of(u) for u in members if u != self.bot_user_id)) if p]
        if not found:
            return PUBLIC_ONLY
        common = frozenset.intersection(*(p.grants for p in found))
        return Principal(grants=common | {PUBLIC})

    async def _members(self, channel: str) -> list[str] | None:
        """Every member id, or None when there are more than `max_members`."""
        members: list[str] = []
        cursor = ""
        while True:
            page = await self.client.conversations_members(channel=channel, cursor=cursor, limit=200)
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
