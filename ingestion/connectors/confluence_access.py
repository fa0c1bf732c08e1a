"""Who may read a Confluence page, as Lore access strings.

Confluence decides in layers: the space permission (who may view the space: groups, users, anonymous), then
the read restrictions of every ancestor page, then the page's own. Someone reads the page only if every
layer lets them. Each layer is mapped to Lore access strings:

- a group -> what the directory file maps its name to (`accounts:`), else `group:<name lower-case>`;
- a user -> `user:<email>` when Confluence shows the email, else what the directory maps its accountId
  (Cloud), username or userKey (Data Center) to, else nothing: an unmapped account grants nothing;
- anonymous access to the space -> `public`.

Lore then keeps only the strings that EVERY layer allows. A layer allows a string it contains; a layer
that contains `public` (anonymous access, or a group the directory maps to `public`) allows everything;
and a layer allows `user:x` when it contains a `group:g` the directory file lists x in. So the acl is
conservative: it can hide a page from someone who may read it in Confluence (say a page restricted to
user Ana in a space open to `confluence-users`: unless the directory maps `confluence-users` to `public`
or lists Ana in it, nobody gets the page), never show a page to someone who may not. Attachments take
their page's acl.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ingestion.connectors.confluence_api import (
    CloudSpacePermission,
    DcSpacePermission,
    Group,
    Restrictions,
    User,
)
from knowledge.access import PUBLIC, AccessError, Directory, meet, parse_access

log = logging.getLogger(__name__)

Layer = frozenset[str]  # the access strings one layer allows; with `public` in it, it allows everyone


def group_access(name: str, directory: Directory) -> list[str]:
    """A Confluence group as Lore access: the directory's mapping of its name, else `group:<name>`."""
    return directory.access_of(name) or _valid(f"group:{name.strip().lower()}")


def user_access(user: User, directory: Directory) -> list[str]:
    """A Confluence user as Lore access: `user:<email>`, else the directory's mapping of its account."""
    if user.email:
        return _valid(f"user:{user.email.strip().lower()}")
    for account in (user.account_id, user.username, user.user_key):
        if account and (mapped := directory.access_of(account)):
            return mapped
    return []


def restriction_layer(restrictions: Restrictions | None, directory: Directory) -> Layer | None:
    """The layer of a page's own read restrictions; None when it has none (it then imposes nothing)."""
    read = restrictions.read if restrictions else None
    if read is None:
        return None
    users, groups = read.restrictions.user.results, read.restrictions.group.results
    if not users and not groups:
        return None
    return _layer(users, groups, directory)


def cloud_space_layer(permissions: list[CloudSpacePermission], directory: Directory) -> Layer | None:
    """Who may view a Cloud space (`expand=permissions`); None when no view permission is visible at all,
    which is what an account without the space's Admin permission gets."""
    viewing = [p for p in permissions if p.operation.views_space()]
    if not viewing:
        return None
    if any(p.anonymous_access for p in viewing):
        return frozenset({PUBLIC})
    users = [u for p in viewing if p.subjects for u in p.subjects.user.results]
    groups = [g for p in viewing if p.subjects for g in p.subjects.group.results]
    return _layer(users, groups, directory)


def dc_space_layer(permissions: list[DcSpacePermission], directory: Directory) -> Layer | None:
    """Who may view a Data Center space (`/rest/api/space/{key}/permissions`); None when nobody is shown."""
    viewing = [p.subject for p in permissions if p.operation.views_space()]
    if not viewing:
        return None
    if any(s.type == "anonymous" for s in viewing):
        return frozenset({PUBLIC})
    users = [
        User(username=s.username, userKey=s.user_key, displayName=s.display_name)
        for s in viewing
        if s.type == "user"
    ]
    groups = [Group(name=s.name) for s in viewing if s.type == "group" and s.name]
    return _layer(users, groups, directory)


def combine(layers: Iterable[Layer], directory: Directory) -> list[str]:
    """The acl of a page: the strings that every layer allows (see the module docstring); sorted."""
    return meet(layers, directory)


def _layer(users: list[User], groups: list[Group], directory: Directory) -> Layer:
    grants = {a for u in users for a in user_access(u, directory)}
    grants |= {a for g in groups if g.name for a in group_access(g.name, directory)}
    return frozenset(grants)


def _valid(access: str) -> list[str]:
    try:
        return [parse_access(access)]
    except AccessError:  # a name Lore cannot write as an access string grants nothing (conservative)
        log.warning("Confluence account %r is not a valid Lore access string; it grants nothing", access)
        return []
