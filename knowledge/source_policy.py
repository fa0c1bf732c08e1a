"""What a source may point at, given who added it: the bounds of an admin's power over the server.

An admin of the Slack app is not an operator of the server. So a source's credentials name only
`LORE_SECRET_…` variables or files inside LORE_SECRETS_DIR; its URLs reach no loopback, link-local or
cloud metadata host unless LORE_ALLOWED_INTERNAL_HOSTS lists it; and a source of local folders (a kind
whose locations are paths: `files`) added from Slack lies inside the folders of LORE_FILES_ROOTS (the
terminal, `lore sources add` and `lore ingest`, may add any folder). The rules are checked when a source
is added (Slack and terminal) and again before each sync, so a source registered earlier, by hand, or
before the operator narrowed a setting is held to them too.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowledge.hosts import HostGuard
from knowledge.kinds.catalog import installed_kinds
from knowledge.settings import Settings
from knowledge.sources import Source, kind_warning

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def added_from_slack(source: Source) -> bool:
    """True when a Slack user added `source` (`added_by` is a Slack user id, not `cli`)."""
    return bool(SLACK_USER.match(source.added_by))


def refusals(source: Source, settings: Settings, *, from_slack: bool | None = None) -> dict[str, str]:
    """What `source` may not do, by field (`location`, `credentials`, or an option's name), with how to fix
    it; empty when it is within bounds. `from_slack` defaults to who added it (`added_from_slack`)."""
    slack = added_from_slack(source) if from_slack is None else from_slack
    found: dict[str, str] = {}
    if source.credentials is not None and (why := source.credentials.refusal(settings.secrets_dir)):
        found["credentials"] = why
    kind = installed_kinds().get(source.kind)
    if kind is None:  # not installed: nothing of it runs (its sync says why)
        return found
    if source.unfit:  # stored, and its kind's rules have changed since: it is not synced as it is
        found["kind"] = kind_warning(source) or source.unfit
    roots = settings.files_roots
    if kind.location_type == "path" and slack and (why := _outside_roots(source.location, roots)):
        found["location"] = why
    guard = HostGuard(settings.allowed_internal_hosts)
    if kind.location_type == "url" and (
        why := next((w for url in source.location if (w := guard.url_refusal(url))), None)
    ):
        found["location"] = why
    for option in kind.options:
        value = source.options.get(option.name)
        if option.url and value is not None and (why := guard.url_refusal(value)):
            found[option.name] = why
    return found


def _outside_roots(locations: list[str], roots: list[Path]) -> str | None:
    """Why a source of local folders added from Slack may not index these folders, or None."""
    if not roots:
        return (
            "files sources cannot be added from Slack here: whoever runs Lore lists the folders Slack "
            "admins may index in LORE_FILES_ROOTS, or adds the source from the terminal (`lore sources add`)"
        )
    allowed = [root.resolve() for root in roots]
    outside = [p for p in locations if not any(Path(p).resolve().is_relative_to(r) for r in allowed)]
    if not outside:
        return None
    return (
        f"{', '.join(outside)} is outside the folders Slack admins may index (LORE_FILES_ROOTS: "
        f"{', '.join(str(r) for r in allowed)}; links are followed): pick a folder inside them, or ask "
        "whoever runs Lore"
    )
