"""The fields most kinds of source ask for in the `/lore add` form, for declarations to reuse: the source
id, who may read it, the schedule, credentials, overrides, a ceiling, and one field per option."""

from __future__ import annotations

from knowledge.kinds.contract import (
    ACCESS,
    CEILING,
    CREDENTIALS,
    EVERY,
    ID,
    OVERRIDES,
    FieldSpec,
    OptionSpec,
)

ACCESS_HINT = "Comma-separated: public, group:NAME or user:EMAIL."
OWN_ACCESS_NOTE = (
    "Who may read each document comes from the source's own permissions: map its accounts to Lore access "
    "in the directory file (accounts:); unmapped accounts grant nothing."
)
SECRET_WHERE = "An environment variable LORE_SECRET_… or a secret file in LORE_SECRETS_DIR"


def source_id(example: str) -> FieldSpec:
    """The source's id, e.g. `handbook`."""
    return FieldSpec(
        name=ID,
        label="Source id",
        hint=f"1-64 lower-case letters, digits, '.', '_' or '-' (e.g. {example}); answers cite it.",
        placeholder=example,
    )


def access(hint: str = ACCESS_HINT, label: str = "Who may read it", placeholder: str = "public") -> FieldSpec:
    """Who may read the source's documents (unless an override applies)."""
    return FieldSpec(name=ACCESS, label=label, hint=hint, placeholder=placeholder)


def overrides(label: str, hint: str, placeholder: str) -> FieldSpec:
    """Access per prefix (a folder, a namespace, a URL path), one per line."""
    return FieldSpec(
        name=OVERRIDES, label=label, hint=hint, placeholder=placeholder, multiline=True, optional=True
    )


def ceiling() -> FieldSpec:
    """Access strings no document of the source is readable beyond."""
    return FieldSpec(
        name=CEILING,
        label="Ceiling (optional)",
        hint="Comma-separated access strings: no document of this source is readable beyond them, whatever "
        "its own permissions say. For SMB share permissions (Lore does not read them) or a site behind a "
        "login.",
        placeholder="group:staff",
        optional=True,
    )


def every(
    label: str = "Sync schedule", hint: str = "Every N minutes or hours (30m, 1h, 6h), or manual."
) -> FieldSpec:
    """How often the source is synced."""
    return FieldSpec(name=EVERY, label=label, hint=hint, initial="1h")


def credentials(hint: str, placeholder: str, optional: bool = False, label: str = "") -> FieldSpec:
    """Where the source's secret is kept: a variable's name or a secret file, never the secret."""
    return FieldSpec(
        name=CREDENTIALS,
        label=label or "Credentials (a reference, never the secret)",
        hint=hint,
        placeholder=placeholder,
        optional=optional,
    )


def option(spec: OptionSpec, label: str, placeholder: str) -> FieldSpec:
    """The field of one option of the kind; its hint is the option's help."""
    hint = spec.help[:1].upper() + spec.help[1:] + (" (required)" if spec.required else "") + "."
    return FieldSpec(
        name=spec.name,
        label=label,
        hint=hint,
        placeholder=placeholder,
        optional=not spec.required,
        option=True,
    )
