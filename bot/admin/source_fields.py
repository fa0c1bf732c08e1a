"""The fields each kind of source asks for in the `/lore add` modal and its one-line form, declared once.

Fields marked `option` are the kind's settings (`Source.options`, e.g. user=, namespaces=); the others fill
the source's own fields. `bot/admin/source_input.py` reads what was typed into a `Source`.
"""

from __future__ import annotations

from pydantic import BaseModel

from knowledge.source_kinds import (
    CONFLUENCE_KIND,
    FILES_KIND,
    KIND_RULES,
    MEDIAWIKI_KIND,
    REMOTE_KIND,
    SMB_KIND,
    WEB_KIND,
)

# Field names double as the block_id of their input in the modal (Slack keys errors by block_id).
ID, LOCATION, ACCESS, OVERRIDES, EVERY, CREDENTIALS = (
    "source_id",
    "location",
    "access",
    "overrides",
    "every",
    "credentials",
)
CEILING = "ceiling"
ACCESS_HINT = "Comma-separated: public, group:NAME or user:EMAIL."


class FieldSpec(BaseModel):
    """One input of the add form."""

    name: str
    label: str
    hint: str
    placeholder: str = ""
    initial: str = ""
    multiline: bool = False
    optional: bool = False
    option: bool = False  # a setting of the kind (Source.options), typed as name=value on one line


class KindForm(BaseModel):
    """The fields a kind of source asks for, in order."""

    kind: str
    label: str
    fields: list[FieldSpec]
    location_word: str = "the location"  # what the one-line form calls its third word


def _id(example: str) -> FieldSpec:
    return FieldSpec(
        name=ID,
        label="Source id",
        hint=f"1-64 lower-case letters, digits, '.', '_' or '-' (e.g. {example}); answers cite it.",
        placeholder=example,
    )


def _access(
    hint: str = ACCESS_HINT, label: str = "Who may read it", placeholder: str = "public"
) -> FieldSpec:
    return FieldSpec(name=ACCESS, label=label, hint=hint, placeholder=placeholder)


def _overrides(label: str, hint: str, placeholder: str) -> FieldSpec:
    return FieldSpec(
        name=OVERRIDES, label=label, hint=hint, placeholder=placeholder, multiline=True, optional=True
    )


def _ceiling() -> FieldSpec:
    return FieldSpec(
        name=CEILING,
        label="Ceiling (optional)",
        hint="Comma-separated access strings: no document of this source is readable beyond them, whatever "
        "its own permissions say. For SMB share permissions (Lore does not read them) or a site behind a "
        "login.",
        placeholder="group:staff",
        optional=True,
    )


def _every(
    label: str = "Sync schedule", hint: str = "Every N minutes or hours (30m, 1h, 6h), or manual."
) -> FieldSpec:
    return FieldSpec(name=EVERY, label=label, hint=hint, initial="1h")


def _credentials(hint: str, placeholder: str, optional: bool = False, label: str = "") -> FieldSpec:
    return FieldSpec(
        name=CREDENTIALS,
        label=label or "Credentials (a reference, never the secret)",
        hint=hint,
        placeholder=placeholder,
        optional=optional,
    )


def _option(kind: str, name: str, label: str, placeholder: str, optional: bool = True) -> FieldSpec:
    return FieldSpec(
        name=name,
        label=label,
        hint=KIND_RULES[kind].options[name][0].upper() + KIND_RULES[kind].options[name][1:] + ".",
        placeholder=placeholder,
        optional=optional,
        option=True,
    )


OWN_ACCESS_NOTE = (
    "Who may read each document comes from the source's own permissions: map its accounts to Lore access "
    "in the directory file (accounts:); unmapped accounts grant nothing."
)

FILES = KindForm(
    kind=FILES_KIND,
    label="Folders (a local disk or a mounted share)",
    location_word="the folders",
    fields=[
        _id("handbook"),
        FieldSpec(
            name=LOCATION,
            label="Folders",
            hint="One absolute path per line, as the sync worker sees it.",
            placeholder="/srv/wiki",
            multiline=True,
        ),
        _access(),
        _overrides(
            "Folder overrides",
            "One per line, `folder: access, access`; folders are relative to the source.",
            "finance: group:finance",
        ),
        _every(),
        _credentials(
            "An environment variable LORE_SECRET_… or a secret file in LORE_SECRETS_DIR, where the worker "
            "runs. Folders need none.",
            "LORE_SECRET_WIKI or /run/secrets/wiki",
            optional=True,
        ),
        _ceiling(),
    ],
)
SMB = KindForm(
    kind=SMB_KIND,
    label="Windows / SMB file share",
    location_word="the share",
    fields=[
        _id("shared-drive"),
        FieldSpec(
            name=LOCATION,
            label="Shares",
            hint="One per line: smb://server/share/folder (\\\\server\\share\\folder also works). "
            + OWN_ACCESS_NOTE,
            placeholder="smb://fileserver/public/handbook",
            multiline=True,
        ),
        _option(SMB_KIND, "user", "Account", "svc-lore or CORP\\svc-lore", optional=False),
        _credentials(
            "An environment variable LORE_SECRET_… or a secret file in LORE_SECRETS_DIR holding the "
            "account's password, where the worker runs.",
            "LORE_SECRET_SHARE or /run/secrets/share",
        ),
        _every(),
        _ceiling(),
    ],
)
MEDIAWIKI = KindForm(
    kind=MEDIAWIKI_KIND,
    label="MediaWiki",
    location_word="the wiki's api.php URL",
    fields=[
        _id("wiki"),
        FieldSpec(
            name=LOCATION,
            label="API URL",
            hint="The wiki's api.php, e.g. https://wiki.example.com/w/api.php.",
            placeholder="https://wiki.example.com/w/api.php",
        ),
        _access(),
        _overrides(
            "Namespace overrides",
            "One per line, `namespace number: access, access`, e.g. `4: group:staff`.",
            "4: group:staff",
        ),
        _option(MEDIAWIKI_KIND, "namespaces", "Namespaces", "0,4"),
        _option(MEDIAWIKI_KIND, "user", "Bot user (private wikis)", "Lore@sync"),
        _credentials(
            "Only with a bot user: the variable LORE_SECRET_… or secret file (in LORE_SECRETS_DIR) "
            "holding its bot password.",
            "LORE_SECRET_WIKI_BOT or /run/secrets/wiki",
            optional=True,
        ),
        _every(),
        _ceiling(),
    ],
)
CONFLUENCE = KindForm(
    kind=CONFLUENCE_KIND,
    label="Confluence (Cloud or Data Center)",
    location_word="the site's base URL",
    fields=[
        _id("confluence"),
        FieldSpec(
            name=LOCATION,
            label="Site URL",
            hint="Cloud: https://example.atlassian.net/wiki; Data Center: the base URL. " + OWN_ACCESS_NOTE,
            placeholder="https://example.atlassian.net/wiki",
        ),
        _option(CONFLUENCE_KIND, "spaces", "Spaces", "ENG,HR"),
        _option(CONFLUENCE_KIND, "user", "Account email (Cloud)", "lore-bot@example.com"),
        _credentials(
            "The variable LORE_SECRET_… or secret file (in LORE_SECRETS_DIR) holding the API token "
            "(Cloud) or personal access token (Data Center), where the worker runs.",
            "LORE_SECRET_CONFLUENCE or /run/secrets/confluence",
        ),
        _every(),
        _ceiling(),
    ],
)
WEB = KindForm(
    kind=WEB_KIND,
    label="Web site (sitemap or crawl)",
    location_word="the start URL",
    fields=[
        _id("docs-site"),
        FieldSpec(
            name=LOCATION,
            label="Start URLs",
            hint="One per line; pages are followed only inside the folder of each (robots.txt is honoured).",
            placeholder="https://docs.example.com/guide/",
            multiline=True,
        ),
        _access(),
        _overrides(
            "Path overrides",
            "One per line, `path: access, access`; paths are relative to the start URL's folder.",
            "internal: group:staff",
        ),
        _option(WEB_KIND, "max_pages", "Page budget", "500"),
        _option(WEB_KIND, "sitemap", "Sitemap URL", "https://docs.example.com/sitemap.xml"),
        _every(),
        _ceiling(),
    ],
)
REMOTE = KindForm(
    kind=REMOTE_KIND,
    label="Another Lore (federated search: asked at question time, nothing copied)",
    location_word="the URL",
    fields=[
        _id("hr-lore"),
        FieldSpec(
            name=LOCATION,
            label="Its API URL",
            hint="The base URL of the other Lore's `lore api`, as this Lore reaches it.",
            placeholder="https://lore.hr.example.com",
        ),
        _access(
            "Comma-separated: public, group:NAME or user:EMAIL. The other Lore also limits what its "
            "key may read.",
            "Who here may see its results",
            "group:staff",
        ),
        _every("Health check", "How often `/lore sources` checks that it answers: 30m, 1h, 6h, or manual."),
        _credentials(
            "An environment variable LORE_SECRET_… or a secret file in LORE_SECRETS_DIR holding an API "
            "key of the other Lore (`lore apikey create` there).",
            "LORE_SECRET_HR_LORE or /run/secrets/hr-lore",
            label="Its API key (a reference, never the key)",
        ),
    ],
)
KINDS: dict[str, KindForm] = {f.kind: f for f in (FILES, SMB, MEDIAWIKI, CONFLUENCE, WEB, REMOTE)}
