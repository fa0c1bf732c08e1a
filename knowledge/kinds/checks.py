"""Checks and normalisers that declarations of several kinds share (each raises ValueError saying how to fix
what was typed)."""

from __future__ import annotations

import re

_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")
_ACCOUNT = re.compile(r"^[^\s\\/]+([\\/][^\s\\/]+)?$|^[^\s@]+@[^\s@]+$")


def http_url(value: str) -> str:
    """An http(s) URL option, e.g. a sitemap."""
    if not _URL.match(value.strip()):
        raise ValueError(
            f"invalid URL {value!r}: give an http(s) URL, e.g. https://docs.example.com/sitemap.xml"
        )
    return value.strip()


def account(value: str) -> str:
    """An account name (svc-lore, CORP\\svc-lore) or an email."""
    if not _ACCOUNT.match(value.strip()):
        raise ValueError(
            f"invalid user {value!r}: give an account name (svc-lore or CORP\\svc-lore) or an email"
        )
    return value.strip()


def without_trailing_slash(location: str) -> str:
    """A URL whose trailing slash is noise (an API endpoint, a site's base URL)."""
    return location.rstrip("/")
