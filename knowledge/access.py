"""Access strings, principals and the group directory.

An acl is a list of permission strings (`public`, `group:<name>`, `user:<email>`, lower case). A principal
is the set of strings a person holds. A chunk is visible iff the two meet; no acl means nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

PUBLIC = "public"
ACCESS_HELP = (
    "write `public`, `group:NAME` (e.g. group:finance) or `user:EMAIL` "
    "(e.g. user:ana@example.com); several may be given"
)

_GROUP = re.compile(r"^group:[a-z0-9][a-z0-9._\-/ ]*$")
_USER = re.compile(r"^user:[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccessError(ValueError):
    """An access string that Lore cannot understand."""


def parse_access(value: str) -> str:
    """Normalise one access string, or raise `AccessError` saying what to write."""
    text = value.strip().lower()
    if text == PUBLIC or _GROUP.match(text) or _USER.match(text):
        return text
    raise AccessError(f"invalid access {value!r}: {ACCESS_HELP}")


def parse_acl(values: Iterable[str]) -> list[str]:
    """Normalise an acl (sorted, without duplicates); an empty acl is an error."""
    acl = sorted({parse_access(v) for v in values})
    if not acl:
        raise AccessError(f"no access given: {ACCESS_HELP}")
    return acl


class Directory(BaseModel):
    """Group membership kept outside Slack (group name -> member emails), and the Lore access strings of
    accounts named by sources (an SMB SID, a Confluence group or account id -> access strings). A YAML file:

        groups: {finance: [ana@example.com]}
        accounts: {"S-1-5-21-1-2-3-1104": [group:finance], "S-1-1-0": [public]}
    """

    model_config = ConfigDict(extra="forbid")

    groups: dict[str, list[str]] = {}
    accounts: dict[str, list[str]] = {}

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {name.strip().lower(): parse_acl(acl) for name, acl in value.items()}

    @classmethod
    def load(cls, path: Path | None) -> Directory:
        """Read a directory file (`groups: {finance: [ana@example.com]}`); no file = empty directory."""
        if path is None:
            return cls()
        if not path.exists():
            raise FileNotFoundError(
                f"directory file {path} does not exist: create it or unset LORE_DIRECTORY_FILE"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.model_validate(data)

    def access_of(self, account: str) -> list[str]:
        """The access strings a source-side account maps to (case-insensitive); [] when unmapped."""
        return self.accounts.get(account.strip().lower(), [])

    def groups_of(self, email: str) -> list[str]:
        """Names of the groups that list `email`."""
        email = email.lower()
        return sorted(
            name.lower() for name, members in self.groups.items() if email in {m.lower() for m in members}
        )


class Principal(BaseModel):
    """Who is asking: the set of access strings held."""

    model_config = ConfigDict(frozen=True)

    grants: frozenset[str]

    @classmethod
    def anonymous(cls) -> Principal:
        """The principal of nobody in particular: `{public}`."""
        return cls(grants=frozenset({PUBLIC}))

    @classmethod
    def of(
        cls, groups: Iterable[str] = (), user: str | None = None, directory: Directory | None = None
    ) -> Principal:
        """`{public}` plus the named groups, the user and the user's groups in the directory."""
        grants = {PUBLIC}
        for group in groups:
            name = group.strip().lower()
            if name:
                grants.add(parse_access(name if name.startswith("group:") else f"group:{name}"))
        if user:
            grants.add(parse_access(f"user:{user}"))
            for name in (directory or Directory()).groups_of(user):
                grants.add(f"group:{name}")
        return cls(grants=frozenset(grants))

    def can_read(self, acl: Iterable[str]) -> bool:
        """True iff the acl and the principal meet."""
        return not self.grants.isdisjoint(acl)

    def sorted(self) -> list[str]:
        """The grants as a sorted list (for filters and logs)."""
        return sorted(self.grants)


def meet(layers: Iterable[Iterable[str]], directory: Directory | None = None) -> list[str]:
    """The acl of what every layer must allow: the strings that every layer allows; sorted.

    A layer allows a string it contains; a layer that contains `public` allows everything; and, with a
    `directory`, a layer allows `user:x` when it contains a `group:g` that lists x. Two different groups
    meet in nobody (Lore cannot write "in both groups"), so the result is conservative: it may hide a
    document from someone allowed by every layer, never show it to someone one layer refuses. An empty
    layer (nobody) makes the result empty.
    """
    imposing = [frozenset(layer) for layer in layers]
    imposing = [layer for layer in imposing if PUBLIC not in layer]
    if not imposing:
        return [PUBLIC]
    candidates: set[str] = set().union(*imposing)
    return sorted(s for s in candidates if all(_allows(layer, s, directory) for layer in imposing))


def intersect(a: Iterable[str], b: Iterable[str], directory: Directory | None = None) -> list[str]:
    """The acl readable by those who may read under both `a` and `b` (see `meet`)."""
    return meet([a, b], directory)


def _allows(layer: frozenset[str], grant: str, directory: Directory | None) -> bool:
    if grant in layer:
        return True
    if directory is not None and grant.startswith("user:"):
        return any(f"group:{name}" in layer for name in directory.groups_of(grant.removeprefix("user:")))
    return False
