"""The contract of a kind of source: what a connector package declares, once, for Lore to use it.

A package declares each kind it adds as a `ConnectorKind` and registers it in its metadata under the entry
point group `lore.connectors` (`<kind name> = "package.module:KIND"`); Lore's own kinds register the same
way (see pyproject.toml). From the declaration Lore draws the `/lore add` modal and its one-line form, the
usage lines, checks a `Source` of the kind, and bounds what it may reach (knowledge/source_policy.py). The
module that declares a kind imports only `knowledge.kinds` (it is loaded by the bot and the CLI too); the
module that talks to the source is named by `connector` and imported by the sync worker only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GROUP = "lore.connectors"  # the entry point group every kind is registered under
KIND_NAME = r"^[a-z][a-z0-9-]{0,31}$"
OPTION_NAME = r"^[a-z][a-z0-9_]{0,31}$"
# the form's own fields (also the block_ids of the modal's inputs: Slack keys errors by block_id)
ID, LOCATION, ACCESS, OVERRIDES, EVERY, CREDENTIALS, CEILING = (
    "source_id",
    "location",
    "access",
    "overrides",
    "every",
    "credentials",
    "ceiling",
)
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


class FieldSpec(BaseModel):
    """One input of the add form; `option` marks a setting of the kind (`Source.options`, typed as
    name=value on one line), the others fill the source's own fields (ID, LOCATION, ACCESS, ...)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Also the input's block_id.")
    label: str = Field(max_length=2000)
    hint: str = Field(max_length=2000)
    placeholder: str = Field("", max_length=150)  # Slack's limits for an input's texts
    initial: str = ""
    multiline: bool = False
    optional: bool = False
    option: bool = False


class OptionSpec(BaseModel):
    """A setting of a kind (`Source.options`), e.g. the wiki namespaces to index."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=OPTION_NAME, description="What it is typed as: name=value.")
    help: str = Field(description="What it means, e.g. 'space keys to index, e.g. ENG,HR'.")
    check: Callable[[str], str] | None = Field(
        None, description="The value checked and normalised; raises ValueError saying how to fix it."
    )
    required: bool = Field(False, description="A source of the kind needs it.")
    url: bool = Field(False, description="A URL Lore fetches: bounded like a URL location.")


class ConnectorKind(BaseModel):
    """One kind of source, declared once: its name, what its locations and options look like, where the
    access of its documents comes from, its form, and how the worker builds its connector."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=KIND_NAME, description="What admins type, e.g. `confluence`.")
    label: str = Field(
        max_length=75, description="Its entry in the modal's kind select (Slack's limit), e.g. 'MediaWiki'."
    )
    summary: str = Field(description="One line saying what it indexes (lore doctor, the docs).")
    order: int = Field(100, description="Place in lists of kinds (lower first, then by name).")
    location_type: Literal["path", "url", "other"] = Field(
        description="path: an absolute local path (bounded by LORE_FILES_ROOTS from Slack); url: an http(s) "
        "URL (bounded by LORE_ALLOWED_INTERNAL_HOSTS); other: checked by `location_check` only."
    )
    location_hint: str = Field(description="What a location looks like, e.g. 'a share, e.g. smb://f/s'.")
    location_word: str = Field("the location", description="What the one-line form calls its third word.")
    location_check: Callable[[str], str | None] | None = Field(
        None, description="Why a location is not one of this kind, or None (after the type's own check)."
    )
    normalise: Callable[[str], str] | None = Field(
        None, description="A location as typed -> as stored (e.g. \\\\server\\share -> smb://server/share)."
    )
    single_location: bool = Field(False, description="A source of the kind has exactly one location.")
    own_access: bool = Field(False, description="Its documents carry their own access lists (no `access`).")
    credentials: Literal["required", "refused", "optional"] = Field(
        "optional", description="Whether a source of the kind names credentials (where its secret is kept)."
    )
    overrides: bool = Field(True, description="Per-prefix access overrides are allowed.")
    options: list[OptionSpec] = Field(default_factory=list)
    fields: list[FieldSpec] = Field(description="The `/lore add` form, in order (see fields.py).")
    usage: str = Field(description="The one-line form after the kind's name, e.g. '<id> <url> access=…'.")
    question_time: bool = Field(False, description="Asked at question time: nothing is synced (lore-remote).")
    connector: str = Field(
        "",
        description="'module:callable' taking (Source, Settings) and returning the connector; imported by "
        "the sync worker only. Empty only for a question-time kind.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ConnectorKind:
        names = [f.name for f in self.fields]
        wanted = {ID, LOCATION, EVERY} | ({ACCESS} if not self.own_access else set())
        wanted |= {CREDENTIALS} if self.credentials != "refused" else set()
        unexpected = {ACCESS} if self.own_access else set()
        unexpected |= set() if self.overrides else {OVERRIDES}
        unexpected |= {CREDENTIALS} if self.credentials == "refused" else set()
        options = {o.name: o for o in self.options}
        problems = [f"field {n!r} twice" for n in set(names) if names.count(n) > 1]
        problems += [f"no {n!r} field" for n in sorted(wanted - set(names))]
        problems += [f"a {n!r} field, which this kind does not take" for n in sorted(unexpected & set(names))]
        problems += [
            f"field {f.name!r} is optional but its option is required"
            for f in self.fields
            if f.option and f.name in options and f.optional and options[f.name].required
        ]
        taken = {ID, LOCATION, ACCESS, OVERRIDES, EVERY, CREDENTIALS, CEILING, "override", "kind"}
        problems += [f"option {n!r} has the name of a field every kind has" for n in options if n in taken]
        option_fields = {f.name for f in self.fields if f.option}
        problems += [f"option field {n!r} is no option" for n in sorted(option_fields - set(options))]
        problems += [f"option {n!r} has no field" for n in options if n not in option_fields]
        if self.credentials == "required" and any(f.optional for f in self.fields if f.name == CREDENTIALS):
            problems.append("credentials are required but their field is optional")
        if not self.question_time and not re.fullmatch(r"[\w.]+:[\w.]+", self.connector):
            problems.append(f"connector {self.connector!r} is not 'module:callable'")
        if problems:
            raise ValueError(f"kind {self.name!r}: " + "; ".join(problems))
        return self

    def option(self, name: str) -> OptionSpec | None:
        """The option called `name`, or None."""
        return next((o for o in self.options if o.name == name), None)

    def location_problem(self, location: str) -> str | None:
        """Why `location` is not a location of this kind, or None when it is."""
        if self.location_type == "path" and not location.startswith("/"):
            return f"file locations must be absolute paths: {location}"
        if self.location_type == "url" and not _URL.match(location):
            return f"invalid URL {location!r}: give {self.location_hint}"
        return self.location_check(location) if self.location_check else None

    def check_options(self, options: dict[str, str]) -> dict[str, str]:
        """The options, checked and normalised; ValueError names the option and how to fix it."""
        clean: dict[str, str] = {}
        for name, value in options.items():
            spec = self.option(name)
            if spec is None:
                known = ", ".join(f"{o.name}=" for o in self.options) or "none"
                raise ValueError(f"unknown option {name!r} for a {self.name} source (its options: {known})")
            if value.strip():
                clean[name] = spec.check(value) if spec.check else value.strip()
        for spec in self.options:
            if spec.required and spec.name not in clean:
                raise ValueError(f"a {self.name} source needs {spec.name}= ({spec.help})")
        return clean
