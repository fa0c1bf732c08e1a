"""The workspace half of the Slack stand-in: its people, channels and user groups, and the Web API methods
that describe them (users.*, usergroups.list, conversations.info/members/open), answered as Slack documents
them. Mixed into `tests.slack_standin.SlackStandin`."""

from __future__ import annotations

import base64
from typing import Any

from tests.slack_model import Channel, Result, User, Usergroup, error_result, flag


class WorkspaceMethods:
    """Users, channels and user groups of one workspace, and the methods that read them."""

    def __init__(self) -> None:
        super().__init__()  # the next class of the stand-in's MRO
        self.bot_user_id = "UBOT"
        self.bot_id = "BBOT"
        self.team_id = "T1"
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, Usergroup] = {}

    def add_user(
        self,
        user_id: str,
        email: str | None = None,
        *,
        name: str | None = None,
        team_id: str = "T1",
        is_bot: bool = False,
        is_restricted: bool = False,
        deleted: bool = False,
    ) -> User:
        user = User(user_id, email, name, team_id, is_bot, is_restricted, deleted)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        members: list[str],
        *,
        is_ext_shared: bool = False,
        is_im: bool = False,
        is_private: bool = False,
        name: str | None = None,
        is_mpim: bool = False,
    ) -> Channel:
        channel = Channel(channel_id, list(members), is_ext_shared, is_im, is_private, name, is_mpim)
        self.channels[channel_id] = channel
        return channel

    def add_usergroup(self, usergroup_id: str, handle: str, users: list[str]) -> Usergroup:
        group = Usergroup(usergroup_id, handle, list(users))
        self.usergroups[usergroup_id] = group
        return group

    def _users_info(self, args: dict[str, Any]) -> Result:
        user_id = str(args.get("user", ""))
        user = self.users.get(user_id)
        if user is None and user_id == self.bot_user_id:
            user = User(user_id, name="lore", team_id=self.team_id, is_bot=True)
        if user is None:
            return error_result("user_not_found")
        return {"ok": True, "user": self._user_object(user)}

    def _users_list(self, args: dict[str, Any]) -> Result:
        """Every user, in pages of `limit` with Slack-like cursors (base64 of "user:<first of the page>")."""
        everyone = list(self.users.values())
        page, cursor = _paged([u.id for u in everyone], args)
        if page is None:
            return error_result("invalid_cursor")
        members = [self._user_object(self.users[u]) for u in page]
        return {"ok": True, "members": members, "cache_ts": 1700000000, "response_metadata": cursor}

    def _user_object(self, user: User) -> Result:
        """A user object as users.info and users.list return it."""
        name = user.name or user.id.lower()
        profile: Result = {"real_name": name, "display_name": name, "team": user.team_id}
        if user.email is not None:
            profile["email"] = user.email
        if user.is_bot:
            profile["bot_id"] = self.bot_id
        return {
            "id": user.id,
            "team_id": user.team_id,
            "name": name,
            "real_name": name,
            "deleted": user.deleted,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "is_admin": False,
            "is_restricted": user.is_restricted,
            "is_ultra_restricted": False,
            "profile": profile,
        }

    def _usergroups_list(self, args: dict[str, Any]) -> Result:
        groups = []
        for g in self.usergroups.values():
            group: Result = {"id": g.id, "team_id": self.team_id, "is_usergroup": True, "name": g.handle}
            group |= {"handle": g.handle, "description": "", "date_delete": 0, "user_count": len(g.users)}
            if flag(args.get("include_users")):
                group["users"] = list(g.users)
            groups.append(group)
        return {"ok": True, "usergroups": groups}

    def _conversations_members(self, args: dict[str, Any]) -> Result:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            return error_result("channel_not_found")
        page, cursor = _paged(channel.members, args)
        if page is None:
            return error_result("invalid_cursor")
        return {"ok": True, "members": page, "response_metadata": cursor}

    def _conversations_info(self, args: dict[str, Any]) -> Result:
        c = self.channels.get(str(args.get("channel", "")))
        if c is None:
            return error_result("channel_not_found")
        info: Result = {
            "id": c.id,
            "name": c.name or c.id.lower(),
            "created": 1700000000,
            "is_archived": False,
        }
        info |= {"is_channel": not (c.is_im or c.is_mpim), "is_group": False, "is_im": c.is_im}
        info |= {"is_mpim": c.is_mpim, "is_private": c.is_private or c.is_im or c.is_mpim}
        info["is_ext_shared"] = c.is_ext_shared
        info |= {"is_shared": c.is_ext_shared, "is_member": self.bot_user_id in c.members}
        info["num_members"] = len(c.members)
        if c.is_im:
            info["user"] = next((m for m in c.members if m != self.bot_user_id), self.bot_user_id)
        return {"ok": True, "channel": info}

    def _conversations_open(self, args: dict[str, Any]) -> Result:
        users = args.get("users", "")
        users = users if isinstance(users, list) else [u for u in str(users).split(",") if u]
        if not users:
            return error_result("users_list_not_supplied")
        channel_id = "D" + users[0]
        already = channel_id in self.channels
        if not already:
            self.add_channel(channel_id, [users[0], self.bot_user_id], is_im=True)
        return {"ok": True, "no_op": already, "already_open": already, "channel": {"id": channel_id}}


def _paged(items: list[str], args: dict[str, Any]) -> tuple[list[str] | None, Result]:
    """One page of `items` at `args`' cursor (like Slack's: base64 of "user:<first of the page>") and the
    response_metadata with the next cursor; (None, {}) for a cursor that names nothing."""
    limit = int(args.get("limit") or 100)
    start = 0
    if args.get("cursor"):
        first = base64.b64decode(str(args["cursor"])).decode().removeprefix("user:")
        if first not in items:
            return None, {}
        start = items.index(first)
    rest = items[start + limit :]
    cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
    return items[start : start + limit], {"next_cursor": cursor}
