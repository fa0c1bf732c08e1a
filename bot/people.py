"""The people of a Slack workspace as Lore needs them: email, bot, guest, team, and the user groups.

One person is looked up with users.info; the members of a large channel are read from one cache of the
workspace's people, filled with users.list (up to 1,000 people a call) instead of one users.info per
member: a 1,000-member channel then costs a handful of calls, within Slack's rate limits, not a thousand.
Every answer is cached in the shared store for the identity TTL. A lookup that fails is retried once and
never remembered: the person counts as holding `public` only for this question, and the next one asks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from knowledge import keys
from knowledge.kv.base import KeyValue

log = logging.getLogger(__name__)

LOOKUPS = 8  # concurrent users.info calls
PAGE = 1000  # people or members per users.list / conversations.members call: Slack's largest page
BULK_AT = 50  # people to look up at once above which the whole workspace is listed instead
RETRY_AFTER = 0.3  # seconds before the one retry of a failed lookup
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
_T = TypeVar("_T")


class Person(BaseModel):
    """What Lore needs to know of a Slack user (cached)."""

    user: str
    team: str | None = None
    email: str | None = None
    is_bot: bool = False
    guest: bool = False
    deleted: bool = False
    found: bool = True

    @classmethod
    def from_slack(cls, info: dict[str, Any]) -> Person:
        """A person from a users.info or users.list user object."""
        email = (info.get("profile") or {}).get("email")
        user = str(info.get("id") or "")
        return cls(
            user=user,
            team=info.get("team_id"),
            email=email.lower() if isinstance(email, str) and email else None,
            is_bot=bool(info.get("is_bot")) or user == "USLACKBOT",
            guest=bool(info.get("is_restricted") or info.get("is_ultra_restricted")),
            deleted=bool(info.get("deleted")),
        )


class LookupFailed(RuntimeError):
    """Slack did not answer a lookup (after one retry); nothing about it is remembered."""


class People:
    """Slack people and user groups of each workspace, cached in the shared store for `ttl` seconds."""

    def __init__(self, client: AsyncWebClient, store: KeyValue, *, ttl: int, bulk_at: int = BULK_AT) -> None:
        self.client = client
        self.store = store
        self.ttl = ttl
        self.bulk_at = bulk_at  # from this many people on, list the workspace instead of one call each

    async def person(self, team: str, user: str) -> Person:
        """The user's email and flags (users.info). Unknown to Slack: `found=False` (cached); Slack failing:
        `found=False` for now (not cached)."""
        key = keys.person(team, user)
        if self.ttl and (cached := await self.store.get(key)):
            return Person.model_validate_json(cached)
        try:
            info = (await retried(partial(self.client.users_info, user=user))).get("user") or {}
        except LookupFailed as exc:
            log.warning("users.info %s failed (%s): they hold public only for now", user, exc)
            return Person(user=user, found=False)
        except SlackApiError as exc:  # user_not_found and the like: a definite answer
            log.info("users.info %s: %s", user, exc.response.get("error"))
            person = Person(user=user, found=False)
        else:
            person = Person.from_slack({**info, "id": info.get("id") or user})
        if self.ttl:
            await self.store.set(key, person.model_dump_json(), self.ttl)
        return person

    async def many(self, team: str, users: list[str]) -> dict[str, Person]:
        """Each user's person: one by one for a few, from the workspace's list for many."""
        found: dict[str, Person] = {}
        if len(users) >= self.bulk_at:
            everyone = await self.workspace(team)
            if everyone is None:  # not a thousand users.info calls instead: unknown people read public only
                return {u: Person(user=u, found=False) for u in users}
            found = {u: everyone[u] for u in users if u in everyone}
        limit = asyncio.Semaphore(LOOKUPS)

        async def one(user: str) -> Person:
            async with limit:
                return await self.person(team, user)

        rest = [u for u in users if u not in found]  # a few people, or people who joined since the listing
        for person in await asyncio.gather(*(one(u) for u in rest)):
            found[person.user] = person
        return found

    async def workspace(self, team: str) -> dict[str, Person] | None:
        """Everyone of the workspace (users.list, every page), cached as one entry; None when Slack fails
        (not cached: the next question lists again)."""
        key = keys.people(team)
        if self.ttl and (cached := await self.store.get(key)):
            return {u: Person.model_validate(p) for u, p in json.loads(cached).items()}
        people: dict[str, Person] = {}
        cursor = ""
        try:
            while True:
                page = await retried(partial(self.client.users_list, cursor=cursor, limit=PAGE))
                for info in page.get("members") or []:
                    person = Person.from_slack(info)
                    people[person.user] = person
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
                if not cursor:
                    break
        except (LookupFailed, SlackApiError) as exc:
            log.warning("users.list failed (%s): the channel's people count as reading public only", exc)
            return None
        if self.ttl:
            dumped = {u: p.model_dump(exclude_defaults=True) for u, p in people.items()}
            await self.store.set(key, json.dumps(dumped, separators=(",", ":")), self.ttl)
        return people

    async def slack_groups(self, team: str) -> dict[str, list[str]]:
        """Slack user group handle -> member ids (usergroups.list); {} when Slack fails or the scope is
        missing (then user groups grant nothing for this question; it is not cached)."""
        key = keys.usergroups(team)
        if self.ttl and (cached := await self.store.get(key)):
            groups: dict[str, list[str]] = json.loads(cached)
            return groups
        try:
            response = await retried(partial(self.client.usergroups_list, include_users=True))
        except (LookupFailed, SlackApiError) as exc:
            log.warning("usergroups.list failed (%s): Slack user groups grant nothing until it works", exc)
            return {}
        listed = response.get("usergroups") or []
        groups = {str(g["handle"]).lower(): list(g.get("users") or []) for g in listed if g.get("handle")}
        if self.ttl:
            await self.store.set(key, json.dumps(groups), self.ttl)
        return groups


async def retried(call: Callable[[], Awaitable[_T]]) -> _T:
    """`call()`, tried again once after a transient Slack failure (the client already waits out 429s);
    `LookupFailed` when the second try fails too. Definite errors (SlackApiError) pass through."""
    for attempt in (1, 2):
        try:
            return await call()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error not in TRANSIENT and exc.response.status_code < 500:
                raise
            if attempt == 2:
                raise LookupFailed(error or f"HTTP {exc.response.status_code}") from exc
        await asyncio.sleep(RETRY_AFTER)
    raise AssertionError("unreachable")
