import os
import subprocess
import sys
from pathlib import Path

from knowledge.tokens import count_tokens, install_bpe, truncate_tokens

NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network is off in this test")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
from knowledge.tokens import count_tokens
print(count_tokens("Lore counts tokens offline"))
"""


def test_counts_tokens_in_a_fresh_process_without_network(tmp_path: Path) -> None:
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-c", NO_NETWORK],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 5
    assert len(list((tmp_path / "cache").iterdir())) == 1  # installed into tiktoken's cache, by sha1 name


def test_install_is_idempotent(tmp_path: Path) -> None:
    first = install_bpe(target=tmp_path)
    assert install_bpe(target=tmp_path) == first and first.stat().st_size > 1_000_000


def test_count_and_truncate() -> None:
    assert count_tokens("") == 0
    assert count_tokens("你好，世界") > 1
    cut = truncate_tokens("one two three four five", 2)
    assert cut == "one two" and count_tokens(cut) == 2
