"""Where a running `lore serve` takes terminal commands: `LORE_DATA_DIR/serve.json`, owner-only."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

FILE = "serve.json"


class ControlAddress(BaseModel):
    """How to reach a running `lore serve`: its loopback port and the token every command must send."""

    pid: int
    port: int
    token: str

    @classmethod
    def new(cls, port: int) -> ControlAddress:
        """The address of this process listening on `port`, with a fresh random token."""
        return cls(pid=os.getpid(), port=port, token=secrets.token_urlsafe(32))


class NotYours(PermissionError):
    """The data dir is served by a `lore serve` of another user: its token file is not readable."""


def address_file(data_dir: Path) -> Path:
    """The token file of `data_dir`."""
    return data_dir / FILE


def publish(data_dir: Path, address: ControlAddress) -> Path:
    """Write the address, readable and writable by this user only (mode 0600 from its creation, then renamed
    into place: never readable by others, not even for a moment)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=data_dir, prefix=".serve-", suffix=".tmp")  # mkstemp: mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(address.model_dump_json())
        path = address_file(data_dir)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def read_address(data_dir: Path) -> ControlAddress | None:
    """The published address; None when there is none (or it is unreadable junk, logged). `NotYours` when
    another user's `lore serve` holds the data dir."""
    path = address_file(data_dir)
    try:
        return ControlAddress.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise NotYours(
            f"{path} belongs to another user's `lore serve`: run lore as that user, or stop it"
        ) from exc
    except (OSError, ValidationError) as exc:
        log.warning("ignoring %s (%s)", path, exc)
        return None


def withdraw(data_dir: Path, address: ControlAddress) -> None:
    """Remove the file if it is still this address (a newer `lore serve` may have replaced it)."""
    path = address_file(data_dir)
    try:
        if ControlAddress.model_validate_json(path.read_bytes()) == address:
            path.unlink()
    except (OSError, ValidationError):
        pass
