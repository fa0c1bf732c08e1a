"""What an admin types to add a source, turned into a `Source` or errors keyed by field.

The `/lore add` modal and its one-line form (`/lore add files wiki /srv/wiki access=public every=1h`) fill
the same fields, so both are checked by `source_from_fields` and say the same thing about the same mistake.
Each kind of source declares its fields once (`KINDS`); the modal draws them and the parser reads them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from knowledge.access import AccessError, parse_acl
from knowledge.sources import ENV_NAME, REMOTE_KIND, SOURCE_ID, Credentials, Source

# Field names double as the block_id of their input in the modal (Slack keys errors by block_id).
ID, LOCATION, ACCESS, OVERRIDES, EVERY, CREDENTIALS = (
    "source_id",
    "location",
    "access",
    "overrides",
    "every",
    "credentials",
)
MIN_EVERY = 5 * 60  # seconds: a schedule tighter than this would keep a worker busy for nothing
MAX_EVERY = 30 * 24 * 3600
MANUAL = ("manual", "never", "off", "0")
ADD_USAGE = (
    "`/lore add files <id> <path>[,<path>…] access=public[,group:x] [every=1h|30m|manual] "
    "[override=<folder>:<access>[,<access>]] [credentials=ENV_VAR|/path/to/secret]`, "
    "`/lore add lore-remote <id> <https://other-lore> access=group:x credentials=ENV_VAR`, "
    "or `/lore add` for a form"
)

_EVERY = re.compile(r"^(?:every\s*)?(\d+)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?)$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}
T = TypeVar("T")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})  # Slack turns quotes into smart ones


class FieldSpec(BaseModel):
    """One input of the add form."""

    name: str
    label: str
    hint: str
    placeholder: str = ""
    initial: str = ""
    multiline: bool = False
    optional: bool = False


class KindForm(BaseModel):
    """The fields a kind of source asks for, in order."""

    kind: str
    label: str
    fields: list[FieldSpec]


FILES = KindForm(
    kind="files",
    label="Folders (a local disk or a mounted share)",
    fields=[
        FieldSpec(
            name=ID,
            label="Source id",
            hint="1-64 lower-case letters, digits, '.', '_' or '-' (e.g. handbook); answers cite it.",
            placeholder="handbook",
        ),
        FieldSpec(
            name=LOCATION,
            label="Folders",
            hint="One absolute path per line, as the sync worker sees it.",
            placeholder="/srv/wiki",
            multiline=True,
        ),
        FieldSpec(
            name=ACCESS,
            label="Who may read it",
            hint="Comma-separated: public, group:NAME or user:EMAIL.",
            placeholder="public",
        ),
        FieldSpec(
            name=OVERRIDES,
            label="Folder overrides",
            hint="One per line, `folder: access, access`; folders are relative to the source.",
            placeholder="finance: group:finance",
            multiline=True,
            optional=True,
        ),
        FieldSpec(
            name=EVERY,
            label="Sync schedule",
            hint="Every N minutes or hours (30m, 1h, 6h), or manual.",
            initial="1h",
        ),
        FieldSpec(
            name=CREDENTIALS,
            label="Credentials (a reference, never the secret)",
            hint="Name of an environment variable or absolute path of a secret file where the worker "
            "runs. Folders need none.",
            placeholder="WIKI_TOKEN or /run/secrets/wiki",
            optional=True,
        ),
    ],
)
REMOTE = KindForm(
    kind=REMOTE_KIND,
    label="Another Lore (federated search: asked at question time, nothing copied)",
    fields=[
        FieldSpec(
            name=ID,
            label="Source id",
            hint="1-64 lower-case letters, digits, '.', '_' or '-' (e.g. hr-lore); answers cite it.",
            placeholder="hr-lore",
        ),
        FieldSpec(
            name=LOCATION,
            label="Its API URL",
            hint="The base URL of the other Lore's `lore api`, as this Lore reaches it.",
            placeholder="https://lore.hr.example.com",
        ),
        FieldSpec(
            name=ACCESS,
            label="Who here may see its results",
            hint="Comma-separated: public, group:NAME or user:EMAIL. The other Lore also limits what its "
            "key may read.",
            placeholder="group:staff",
        ),
        FieldSpec(
            name=EVERY,
            label="Health check",
            hint="How often `/lore sources` checks that it answers: 30m, 1h, 6h, or manual.",
            initial="1h",
        ),
        FieldSpec(
            name=CREDENTIALS,
            label="Its API key (a reference, never the key)",
            hint="Name of an environment variable or absolute path of a secret file holding an API key of "
            "the other Lore (`lore apikey create` there).",
            placeholder="HR_LORE_KEY or /run/secrets/hr-lore",
        ),
    ],
)
KINDS: dict[str, KindForm] = {FILES.kind: FILES, REMOTE.kind: REMOTE}


class FormError(ValueError):
    """What is wrong with an add request: a message per field (field name -> how to fix it)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def kind_error(kind: str) -> str:
    """The message for a kind Lore cannot add."""
    return f"unknown kind {kind!r}: Lore adds {', '.join(f'`{k}`' for k in KINDS)} sources"


def parse_every(text: str) -> int:
    """`1h`, `30m`, `every 6 hours`, `manual` -> seconds between syncs (0 = manual); ValueError says how."""
    value = " ".join(text.strip().lower().split())
    if value in MANUAL:
        return 0
    match = _EVERY.match(value)
    seconds = int(match.group(1)) * _UNITS[match.group(2)[0]] if match else -1
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise ValueError(
            f"invalid schedule {text.strip()!r}: write every N minutes or hours between 5m and 30d "
            "(e.g. 30m, 1h, 6h), or `manual`"
        )
    return seconds


def every_text(seconds: int) -> str:
    """A schedule for people: `manual`, `every 30m`, `every 6h`, `every 2d`."""
    if not seconds:
        return "manual"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


def parse_credentials(text: str) -> Credentials | None:
    """An environment variable name or an absolute secret-file path; never echoes what was typed."""
    value = text.strip()
    if not value:
        return None
    if value.startswith("/"):
        return Credentials(file=value)
    if ENV_NAME.match(value):
        return Credentials(env=value)
    raise ValueError(
        "credentials must be the NAME of an environment variable (e.g. WIKI_TOKEN) or the absolute path "
        "of a secret file (e.g. /run/secrets/wiki), never the secret itself"
    )


def parse_locations(text: str) -> list[str]:
    """Absolute paths, one per line (commas also separate them)."""
    paths = [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]
    if not paths:
        raise ValueError("give at least one folder: an absolute path such as /srv/wiki")
    relative = [p for p in paths if not p.startswith("/")]
    if relative:
        raise ValueError(f"folders must be absolute paths (e.g. /srv/wiki), not {', '.join(relative)}")
    return list(dict.fromkeys(str(PurePosixPath(p)) for p in paths))


def parse_url(text: str) -> list[str]:
    """The base URL of another Lore's API (http or https), without a trailing slash."""
    url = text.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ValueError(
            f"invalid URL {text.strip()!r}: give the other Lore's API, e.g. https://lore.hr.example.com"
        )
    return [url]


def parse_overrides(text: str, locations: list[str]) -> dict[str, list[str]]:
    """`folder: access, access` lines -> folder prefix -> acl. An absolute folder inside the only
    location is made relative to it (documents are named relative to their folder)."""
    overrides: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        folder, sep, acl = line.partition(":")
        if not sep or not folder.strip():
            raise ValueError(f"invalid override {line.strip()!r}: write `folder: access, access`")
        prefix = _relative(folder.strip(), locations)
        overrides[prefix] = parse_acl(a for a in acl.split(",") if a.strip())
    return overrides


def _relative(folder: str, locations: list[str]) -> str:
    path = PurePosixPath(folder)
    if path.is_absolute():
        inside = [PurePosixPath(loc) for loc in locations if path.is_relative_to(loc)]
        if len(locations) != 1 or not inside or path == inside[0]:
            raise ValueError(
                f"invalid override folder {folder!r}: give a folder inside the source, relative to it "
                "(e.g. finance)"
            )
        path = path.relative_to(inside[0])
    if ".." in path.parts or not path.parts:
        raise ValueError(
            f"invalid override folder {folder!r}: give a folder inside the source (e.g. finance)"
        )
    return path.as_posix()


def source_from_fields(kind: str, values: dict[str, str], *, added_by: str) -> Source:
    """The source these form values describe; `FormError` lists every field that is wrong."""
    if kind not in KINDS:
        raise FormError({"kind": kind_error(kind)})
    errors: dict[str, str] = {}
    text = {spec.name: (values.get(spec.name) or "").strip() for spec in KINDS[kind].fields}
    for spec in KINDS[kind].fields:
        if not spec.optional and not text[spec.name]:
            errors[spec.name] = f"Required. {spec.hint}"
    source_id = text[ID].lower()
    if ID not in errors and not SOURCE_ID.match(source_id):
        errors[ID] = (
            f"invalid source id {text[ID]!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. handbook)"
        )
    read_location = parse_url if kind == REMOTE_KIND else parse_locations
    locations = _check(errors, LOCATION, lambda: read_location(text[LOCATION]))
    acl = _check(errors, ACCESS, lambda: parse_acl(a for a in text[ACCESS].split(",") if a.strip()))
    every = _check(errors, EVERY, lambda: parse_every(text[EVERY]))
    credentials = _check(errors, CREDENTIALS, lambda: [parse_credentials(text[CREDENTIALS])])
    overrides = (
        _check(errors, OVERRIDES, lambda: parse_overrides(text.get(OVERRIDES, ""), locations))
        if locations is not None
        else None
    )
    if errors or locations is None or acl is None or every is None or credentials is None:
        raise FormError(errors)
    try:
        return Source(
            id=source_id,
            kind=kind,
            location=locations,
            access=acl,
            overrides=overrides or {},
            every=every,
            credentials=credentials[0],
            added_by=added_by,
        )
    except ValidationError as exc:  # a rule of the model that the form does not check itself
        loc = exc.errors()[0]["loc"]
        raise FormError({_FIELD_OF.get(str(loc[0]) if loc else "", LOCATION): _message(exc)}) from exc


def _check(errors: dict[str, str], name: str, step: Callable[[], T]) -> T | None:
    """`step()`, or None with its error recorded under `name` (a field already wrong is not re-checked)."""
    if name in errors:
        return None
    try:
        return step()
    except (AccessError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        errors[name] = _message(exc)
        return None


_FIELD_OF = {"id": ID, "location": LOCATION, "access": ACCESS, "overrides": OVERRIDES, "every": EVERY}


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


def split_args(text: str) -> list[str]:
    """Words of a command, honouring quotes (also Slack's smart quotes); ValueError when unbalanced."""
    return shlex.split(text.translate(_QUOTES))


def fields_from_line(words: list[str]) -> tuple[str, dict[str, str]]:
    """`files <id> <paths> key=value…` (the words after `add`) -> (kind, form values).

    ValueError says what is wrong with the line itself; the values are checked by `source_from_fields`.
    """
    if words and words[0] not in KINDS:
        raise ValueError(kind_error(words[0]))
    where = "the URL" if words and words[0] == REMOTE_KIND else "the folders"
    if len(words) < 3:
        missing = "the source id" if len(words) < 2 else where
        raise ValueError(f"missing {missing}")
    kind, source_id, paths, *options = words
    if "=" in source_id or "=" in paths:
        raise ValueError(f"give the kind, the source id and {where} first, then the key=value options")
    values = {ID: source_id, LOCATION: paths, EVERY: "1h"}
    overrides: list[str] = []
    keys = {"access": ACCESS, "every": EVERY, "credentials": CREDENTIALS}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise ValueError(f"unexpected {option!r}: options are key=value")
        if key == "override":
            overrides.append(value.replace(":", ": ", 1))
        elif key in keys:
            values[keys[key]] = value
        else:
            raise ValueError(f"unknown option {key!r}: use access=, every=, override= or credentials=")
    values[OVERRIDES] = "\n".join(overrides)
    return kind, values
