"""What each kind of source looks like: its locations, its options, and where its access lists come from.

Every kind but `files` and `lore-remote` is a connector of `ingestion/connectors/`. Kinds whose documents
carry their own permissions (SMB security descriptors, Confluence restrictions) take no `access`: their
accounts are mapped to Lore access strings by the directory file, and an unmapped account grants nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, Field

FILES_KIND = "files"
REMOTE_KIND = "lore-remote"  # another Lore deployment, asked at question time (knowledge/federation.py)
SMB_KIND = "smb"
MEDIAWIKI_KIND = "mediawiki"
CONFLUENCE_KIND = "confluence"
WEB_KIND = "web"

_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")
_SMB = re.compile(r"^smb://[^/\s]+/[^/\s]+(/\S*)?$")
_SPACE_KEY = re.compile(r"^~?[A-Za-z0-9_]+$")
_USER = re.compile(r"^[^\s\\/]+([\\/][^\s\\/]+)?$|^[^\s@]+@[^\s@]+$")


class KindRules(BaseModel):
    """The shape of one kind of source."""

    kind: str
    location_hint: str = Field(description="What a location of this kind looks like, for error messages.")
    own_access: bool = Field(False, description="Documents carry their own access lists (no `access`).")
    credentials: bool | None = Field(None, description="True: required; False: refused; None: optional.")
    overrides: bool = Field(True, description="Per-prefix access overrides are allowed.")
    single_location: bool = False
    options: dict[str, str] = Field(default_factory=dict, description="Option name -> what it means.")


def _namespaces(value: str) -> str:
    numbers = [p.strip() for p in value.split(",") if p.strip()]
    if not numbers or not all(re.fullmatch(r"-?\d{1,4}", n) and int(n) >= 0 for n in numbers):
        raise ValueError(
            f"invalid namespaces {value!r}: give namespace numbers, e.g. 0,4 (0 is the main one)"
        )
    return ",".join(dict.fromkeys(numbers))


def _spaces(value: str) -> str:
    keys = [p.strip() for p in value.split(",") if p.strip()]
    if not all(_SPACE_KEY.match(k) for k in keys):
        raise ValueError(f"invalid spaces {value!r}: give Confluence space keys, e.g. ENG,HR")
    return ",".join(dict.fromkeys(keys))


def _user(value: str) -> str:
    if not _USER.match(value.strip()):
        raise ValueError(
            f"invalid user {value!r}: give an account name (svc-lore or CORP\\svc-lore) or an email"
        )
    return value.strip()


def _pages(value: str) -> str:
    if not value.strip().isdigit() or not 1 <= int(value) <= 100_000:
        raise ValueError(f"invalid max_pages {value!r}: give a number of pages from 1 to 100000")
    return str(int(value))


def _url(value: str) -> str:
    if not _URL.match(value.strip()):
        raise ValueError(
            f"invalid URL {value!r}: give an http(s) URL, e.g. https://docs.example.com/sitemap.xml"
        )
    return value.strip()


OPTION_CHECKS: dict[str, Callable[[str], str]] = {
    "namespaces": _namespaces,
    "spaces": _spaces,
    "user": _user,
    "max_pages": _pages,
    "sitemap": _url,
}

KIND_RULES: dict[str, KindRules] = {
    r.kind: r
    for r in (
        KindRules(kind=FILES_KIND, location_hint="an absolute folder or file, e.g. /srv/wiki"),
        KindRules(
            kind=REMOTE_KIND,
            location_hint="the other Lore's API URL, e.g. https://lore.hr.example.com",
            credentials=True,
            overrides=False,
            single_location=True,
        ),
        KindRules(
            kind=SMB_KIND,
            location_hint="a share and folder, e.g. smb://fileserver/public/handbook",
            own_access=True,
            credentials=True,
            overrides=False,
            options={"user": "the account Lore signs in as, e.g. svc-lore or CORP\\svc-lore (required)"},
        ),
        KindRules(
            kind=MEDIAWIKI_KIND,
            location_hint="the wiki's api.php URL, e.g. https://wiki.example.com/w/api.php",
            single_location=True,
            options={
                "namespaces": "namespace numbers to index, e.g. 0,4 (default 0, the main namespace)",
                "user": "a bot-password user name, e.g. Lore@sync; its password is the credentials",
            },
        ),
        KindRules(
            kind=CONFLUENCE_KIND,
            location_hint="the site's base URL, e.g. https://example.atlassian.net/wiki",
            own_access=True,
            credentials=True,
            overrides=False,
            single_location=True,
            options={
                "spaces": "space keys to index, e.g. ENG,HR (default: every space the account can read)",
                "user": "the account email (Cloud: email + API token); without it the token is a Data "
                "Center personal access token",
            },
        ),
        KindRules(
            kind=WEB_KIND,
            location_hint="a start URL whose folder bounds the crawl, e.g. https://docs.example.com/guide/",
            credentials=False,
            options={
                "max_pages": "the page budget of one sync (default 500)",
                "sitemap": "a sitemap URL (default: robots.txt's Sitemap lines, then /sitemap.xml)",
            },
        ),
    )
}


def owns_access(kind: str) -> bool:
    """True when the documents of `kind` carry their own access lists (the source has no `access`)."""
    rules = KIND_RULES.get(kind)
    return rules is not None and rules.own_access


def check_location(kind: str, location: str) -> str | None:
    """Why `location` is not a location of `kind`, or None when it is."""
    if kind == FILES_KIND:
        return None if location.startswith("/") else f"file locations must be absolute paths: {location}"
    if kind == SMB_KIND:
        return None if _SMB.match(location) else f"invalid share {location!r}: give smb://server/share/folder"
    if kind in KIND_RULES:
        return (
            None
            if _URL.match(location)
            else f"invalid URL {location!r}: give {KIND_RULES[kind].location_hint}"
        )
    return None


def check_options(kind: str, options: dict[str, str]) -> dict[str, str]:
    """The options, checked and normalised for `kind`; ValueError names the option and how to fix it."""
    allowed = KIND_RULES[kind].options if kind in KIND_RULES else {}
    clean: dict[str, str] = {}
    for name, value in options.items():
        if name not in allowed:
            known = ", ".join(f"{n}=" for n in allowed) or "none"
            raise ValueError(f"unknown option {name!r} for a {kind} source (its options: {known})")
        if value.strip():
            clean[name] = OPTION_CHECKS[name](value)
    if kind == SMB_KIND and "user" not in clean:
        raise ValueError("an smb source needs user= (the account Lore signs in as, e.g. svc-lore)")
    return clean
