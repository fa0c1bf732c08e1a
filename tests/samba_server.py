"""A real Samba server (Debian's smbd) on a free loopback port, for the SMB connector's tests.

Everything smbd writes (its databases, pid file, sockets, log) stays in a private folder; it serves one
share, `docs`, and knows one account: the unix user running the tests (root in CI) with a test password.
Samba shows POSIX owner, group and mode as an NT ACL: owner S-1-22-1-<uid> (or a SID of its own for a
passdb user), group S-1-22-2-<gid>, others Everyone S-1-1-0; read access where the mode has `r`.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, wait_for_port

SHARE = "docs"
PASSWORD = "s3cret-for-tests"

CONF = """[global]
  server role = standalone server
  security = user
  map to guest = never
  passdb backend = tdbsam:{state}/passdb.tdb
  state directory = {state}
  lock directory = {state}
  private dir = {state}
  pid directory = {state}
  cache directory = {state}
  ncalrpc dir = {state}/ncalrpc
  binddns dir = {state}/bind-dns
  usershare path = {state}/usershares
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  log level = 1
[{share}]
  path = {root}
  read only = no
"""


@dataclass(frozen=True)
class Samba:
    """A running smbd: where to connect, as whom, and the folder it serves."""

    port: int
    root: Path
    user: str
    password: str = PASSWORD
    share: str = SHARE

    def location(self, folder: str = "") -> str:
        """`smb://127.0.0.1:<port>/docs[/folder]`."""
        return f"smb://127.0.0.1:{self.port}/{self.share}" + (f"/{folder}" if folder else "")


@contextmanager
def running_samba(workdir: Path) -> Iterator[Samba]:
    """Start smbd serving `workdir/share` until the block ends."""
    smbd, smbpasswd = shutil.which("smbd") or "/usr/sbin/smbd", shutil.which("smbpasswd")
    if not Path(smbd).exists() or smbpasswd is None:
        raise RuntimeError("Samba is missing: apt-get install samba (the SMB connector's tests run smbd)")
    state, root = workdir / "state", workdir / "share"
    state.mkdir(parents=True)
    root.mkdir()
    port = free_port()
    conf = workdir / "smb.conf"
    conf.write_text(CONF.format(state=state, port=port, share=SHARE, root=root), encoding="utf-8")
    user = getpass.getuser()
    subprocess.run(
        [smbpasswd, "-c", str(conf), "-a", "-s", user],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    with (workdir / "smbd.log").open("wb") as log:
        proc = subprocess.Popen(
            [smbd, "--foreground", "--no-process-group", f"--configfile={conf}", "--debug-stdout"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the forked children go with it
        )
    try:
        wait_for_port(port, proc, timeout=30)
        yield Samba(port=port, root=root, user=user)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
