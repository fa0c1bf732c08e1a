"""What an admin types to add a source, turned into a `Source` or errors keyed by field.

The `/lore add` modal and its one-line form (`/lore add files wiki /srv/wiki access=public every=1h`) fill
the same fields, so both are checked by `source_from_fields` and say the same thing about the same mistake.
Each kind of source declares its fields once (knowledge/kinds/, `bot/admin/source_fields.py`); the modal
draws them and the parser reads them, and the usage line lists every installed kind.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TypeVar

from pydantic import ValidationError

from bot.admin.source_fields import ACCESS, CEILING, CREDENTIALS, EVERY, ID, KINDS, LOCATION, OVERRIDES
from knowledge.access import AccessError, parse_acl
from knowledge.kinds.catalog import KindCatalog, installed_kinds
from knowledge.kinds.contract import ConnectorKind
from knowledge.sources import ENV_NAME, SOURCE_ID, Credentials, Source

MIN_EVERY = 5 * 60  # seconds: a schedule tighter than this would keep a worker busy for nothing
MAX_EVERY = 30 * 24 * 3600
MANUAL = ("manual", "never", "off", "0")
CEILING_USAGE = "[ceiling=<access>[,<access>]]"


def add_usage(catalog: KindCatalog) -> str:
    """The one-line form of every installed kind, as `/lore help` and usage errors show it."""
    lines = [f"`/lore add {k.name} {k.usage}`" for k in catalog.kinds.values()]
    return ", ".join(lines) + f" (any kind takes `{CEILING_USAGE}`), or `/lore add` for a form"


ADD_USAGE = add_usage(installed_kinds())

_EVERY = re.compile(r"^(?:every\s*)?(\d+)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?)$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}
T = TypeVar("T")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})  # Slack turns quotes into smart ones


class FormError(ValueError):
    """What is wrong with an add request: a message per field (field name -> how to fix it)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def kind_error(kind: str) -> str:
    """The message for a kind Lore cannot add: unknown, or declared by a package that fails to load."""
    catalog = installed_kinds()
    if (broken := catalog.broken.get(kind)) is not None:
        return (
            f"kind {kind!r} cannot be used: its package {broken.package} failed to load ({broken.error}); "
            f"Lore adds {catalog.names()} sources"
        )
    return (
        f"unknown kind {kind!r}: Lore adds {catalog.names()} sources; another kind is a connector package "
        "installed where Lore runs (docs/writing-a-connector.md)"
    )


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
        "credentials must be the NAME of an environment variable (e.g. LORE_SECRET_WIKI) or the absolute "
        "path of a secret file (e.g. /run/secrets/wiki), never the secret itself"
    )


def parse_ceiling(text: str) -> list[str] | None:
    """Comma-separated access strings no document may be readable beyond; None when none were given."""
    given = [a for a in text.split(",") if a.strip()]
    return parse_acl(given) if given else None


def parse_locations(text: str) -> list[str]:
    """Absolute paths, one per line (commas also separate them)."""
    paths = [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]
    if not paths:
        raise ValueError("give at least one folder: an absolute path such as /srv/wiki")
    relative = [p for p in paths if not p.startswith("/")]
    if relative:
        raise ValueError(f"folders must be absolute paths (e.g. /srv/wiki), not {', '.join(relative)}")
    return list(dict.fromkeys(str(PurePosixPath(p)) for p in paths))


def parse_addresses(kind: ConnectorKind, text: str) -> list[str]:
    """The locations of a kind not located by local paths, one per line (commas also separate them): URLs,
    or shares, as the kind normalises them (an SMB kind turns `\\\\server\\share` into smb://server/share)."""
    found = [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]
    if kind.normalise is not None:
        found = [kind.normalise(p) for p in found]
    wrong = [why for p in found if (why := kind.location_problem(p))]
    if wrong or not found:
        raise ValueError("; ".join(wrong) or f"give {kind.location_word}")
    return list(dict.fromkeys(found))


def parse_overrides(text: str, locations: list[str]) -> dict[str, list[str]]:
    """`folder: access, access` lines -> prefix -> acl (a folder, a wiki namespace number, a URL path).
    An absolute folder inside the only one of `locations` (local folders) is made relative to it
    (documents are named relative to their folder)."""
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
    declared = KINDS[kind]
    errors: dict[str, str] = {}
    text = {spec.name: (values.get(spec.name) or "").strip() for spec in declared.fields}
    for spec in declared.fields:
        if not spec.optional and not text[spec.name]:
            errors[spec.name] = f"Required. {spec.hint}"
    source_id = text[ID].lower()
    if ID not in errors and not SOURCE_ID.match(source_id):
        errors[ID] = (
            f"invalid source id {text[ID]!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. handbook)"
        )
    if declared.location_type == "path":
        locations = _check(errors, LOCATION, lambda: parse_locations(text[LOCATION]))
    else:
        locations = _check(errors, LOCATION, lambda: parse_addresses(declared, text[LOCATION]))
    given = [a for a in text.get(ACCESS, "").split(",") if a.strip()]
    acl = _check(errors, ACCESS, lambda: parse_acl(given) if ACCESS in text else [])
    options = {spec.name: text[spec.name] for spec in declared.fields if spec.option}
    every = _check(errors, EVERY, lambda: parse_every(text[EVERY]))
    credentials = _check(errors, CREDENTIALS, lambda: [parse_credentials(text.get(CREDENTIALS, ""))])
    ceiling = _check(errors, CEILING, lambda: [parse_ceiling(text.get(CEILING, ""))])
    folders = locations if declared.location_type == "path" else []
    overrides = (
        _check(errors, OVERRIDES, lambda: parse_overrides(text.get(OVERRIDES, ""), folders or []))
        if locations is not None
        else None
    )
    if errors or locations is None or acl is None or every is None or credentials is None or ceiling is None:
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
            ceiling=ceiling[0],
            options=options,
            added_by=added_by,
        )
    except ValidationError as exc:  # a rule of the model that the form does not check itself
        loc = exc.errors()[0]["loc"]
        raise FormError({_field_of(kind, str(loc[0]) if loc else "", exc): _message(exc)}) from exc


def _check(errors: dict[str, str], name: str, step: Callable[[], T]) -> T | None:
    """`step()`, or None with its error recorded under `name` (a field already wrong is not re-checked)."""
    if name in errors:
        return None
    try:
        return step()
    except (AccessError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        errors[name] = _message(exc)
        return None


_FIELD_OF = {
    "id": ID,
    "location": LOCATION,
    "access": ACCESS,
    "overrides": OVERRIDES,
    "every": EVERY,
    "ceiling": CEILING,
}


def _field_of(kind: str, loc: str, exc: ValidationError) -> str:
    """The form field a model error belongs to: by its location, else the option or field it names."""
    if loc in _FIELD_OF:
        return _FIELD_OF[loc]
    text = _message(exc)
    named = [f.name for f in KINDS[kind].fields if f.option and re.search(rf"\b{f.name}\b", text)]
    for name, field in (("access", ACCESS), ("credentials", CREDENTIALS), ("overrides", OVERRIDES)):
        if f"needs {name}" in text or f"takes no {name}" in text or f"give no {name}" in text:
            named.append(field)
    present = {f.name for f in KINDS[kind].fields}
    return next((n for n in named if n in present), LOCATION)


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
    where = KINDS[words[0]].location_word if words else "the location"
    if len(words) < 3:
        missing = "the source id" if len(words) < 2 else where
        raise ValueError(f"missing {missing}")
    kind, source_id, paths, *options = words
    if "=" in source_id or "=" in paths:
        raise ValueError(f"give the kind, the source id and {where} first, then the key=value options")
    values = {ID: source_id, LOCATION: paths, EVERY: "1h"}
    overrides: list[str] = []
    named = {f.name for f in KINDS[kind].fields}
    pairs = (("access", ACCESS), ("every", EVERY), ("credentials", CREDENTIALS), ("ceiling", CEILING))
    keys = {k: v for k, v in pairs if v in named}
    keys |= {f.name: f.name for f in KINDS[kind].fields if f.option}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise ValueError(f"unexpected {option!r}: options are key=value")
        if key == "override" and OVERRIDES in named:
            overrides.append(value.replace(":", ": ", 1))
        elif key in keys:
            values[keys[key]] = value
        else:
            known = [*keys, *(["override"] if OVERRIDES in named else [])]
            raise ValueError(
                f"unknown option {key!r} for a {kind} source: use {', '.join(f'{k}=' for k in known)}"
            )
    values[OVERRIDES] = "\n".join(overrides)
    return kind, values
