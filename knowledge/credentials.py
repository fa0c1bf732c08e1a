"""Where a source's secret is kept (an environment variable or a secret file, never the secret itself), and
reading it where the worker runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from knowledge.settings import SECRET_PREFIX

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class CredentialsError(RuntimeError):
    """A source's secret cannot be read; the message names the variable or file to set."""


class Credentials(BaseModel):
    """Where a source's secret is kept: an environment variable or a secret file. Never the secret itself."""

    env: str | None = Field(
        None, description=f"Name of an environment variable, e.g. {SECRET_PREFIX}CONFLUENCE_TOKEN."
    )
    file: str | None = Field(
        None, description="Absolute path of a secret file inside LORE_SECRETS_DIR, e.g. /run/secrets/wiki."
    )

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(
                "credentials env must be the NAME of an environment variable (upper-case letters, digits "
                f"and '_', e.g. {SECRET_PREFIX}CONFLUENCE_TOKEN), never the secret itself"
            )
        return value

    @field_validator("file")
    @classmethod
    def _file_path(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_absolute():
            raise ValueError(
                f"credentials file must be an absolute path (e.g. /run/secrets/wiki), not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Credentials:
        if (self.env is None) == (self.file is None):
            raise ValueError("credentials need exactly one of env (a variable name) or file (a secret file)")
        return self

    def refusal(self, secrets_dir: Path | None) -> str | None:
        """Why Lore may not read this secret (a variable or file outside what the operator set aside for
        sources), or None. Checked when a source is added and again whenever the secret is read."""
        if self.env is not None:
            if self.env.startswith(SECRET_PREFIX) and len(self.env) > len(SECRET_PREFIX):
                return None
            return (
                f"credentials env {self.env} is not a source secret: sources may name only environment "
                f"variables called {SECRET_PREFIX}… (never Lore's own keys); ask whoever runs Lore to set "
                f"{SECRET_PREFIX}{self.env.removeprefix(SECRET_PREFIX) or 'NAME'} and name that"
            )
        if secrets_dir is None:
            return (
                "secret files are off: whoever runs Lore sets LORE_SECRETS_DIR to the folder of source "
                f"secrets; or name an environment variable {SECRET_PREFIX}…"
            )
        folder = secrets_dir.resolve()
        if not Path(str(self.file)).resolve().is_relative_to(folder):
            return (
                f"secret file {self.file} is outside LORE_SECRETS_DIR ({folder}): put it in that folder "
                "(links out of it are not followed)"
            )
        return None

    def resolve(self, secrets_dir: Path | None) -> str:
        """The secret, read now; raises `CredentialsError` naming what to set when it is missing or when
        it is not one Lore may read (see `refusal`). `secrets_dir` is LORE_SECRETS_DIR."""
        if why := self.refusal(secrets_dir):
            raise CredentialsError(why)
        if self.env is not None:
            value = os.environ.get(self.env, "")
            if not value:
                raise CredentialsError(
                    f"environment variable {self.env} is not set: set it where Lore's sync worker runs"
                )
            return value
        path = Path(str(self.file)).resolve()  # read where the check looked, not through a swapped link
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsError(
                f"cannot read secret file {self.file} ({exc.strerror}): create it, readable by Lore's "
                "sync worker"
            ) from exc
        if not value:
            raise CredentialsError(f"secret file {self.file} is empty: put the secret in it")
        return value
