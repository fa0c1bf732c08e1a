"""A real nginx on loopback serving a folder, for the web connector's tests.

    with nginx_site(root, tmp) as site:
        site.url("docs/")        # http://127.0.0.1:<port>/docs/
        site.requests("/docs/")  # what nginx served under /docs/, from its access log

Static files get nginx's own ETag and Last-Modified and answer conditional requests with 304, as any
documentation server does. Every path under /trap/ serves /trap/page.html (an endless site, if that page
links to a subfolder); every path under /private/ answers 403. A second port answers every request with
HTTP 500 (a broken server).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, settled_log, wait_for_port

NGINX = "/usr/sbin/nginx"
DEBIAN_DOCS = Path("/usr/share/doc/python-jinja2-doc/html")  # Sphinx HTML with real navigation sidebars
CONFIG = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections 64; }}
http {{
    types {{
        text/html html htm;
        text/plain txt;
        text/css css;
        application/javascript js;
        application/xml xml;
        image/png png;
    }}
    default_type application/octet-stream;
    log_format lore '$status $request_method $request_uri $body_bytes_sent';
    access_log {state}/access.log lore;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
        location /trap/ {{ try_files /trap/page.html =404; }}
        location /private/ {{ return 403; }}
    }}
    server {{
        listen 127.0.0.1:{broken};
        location / {{ return 500; }}
    }}
}}
"""


@dataclass(frozen=True)
class Request:
    """One line of nginx's access log."""

    status: int
    method: str
    path: str
    sent: int  # body bytes


@dataclass
class Site:
    """A running nginx: its base URLs and what it has served."""

    port: int
    broken_port: int
    state: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop nginx now (a server that is down); the block's end then has nothing left to do."""
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def requests(self, prefix: str = "/") -> list[Request]:
        """Every request so far whose path starts with `prefix`, oldest first."""
        found = []
        for line in settled_log(self.state / "access.log").splitlines():
            status, method, path, sent = line.split(" ")
            if path.startswith(prefix):
                found.append(Request(int(status), method, path, int(sent)))
        return found


def copy_docs(dest: Path, pages: list[str] | None = None) -> Path:
    """A copy of Debian's Jinja HTML documentation in `dest` (only `pages` if given); returns `dest`."""
    if not DEBIAN_DOCS.is_dir():
        raise RuntimeError(f"{DEBIAN_DOCS} is missing: run `make test-deps` (it apt-gets python-jinja2-doc)")
    if pages is None:
        shutil.copytree(DEBIAN_DOCS, dest)
        return dest
    dest.mkdir(parents=True)
    for page in pages:
        shutil.copy2(DEBIAN_DOCS / page, dest / page)
    return dest


@contextmanager
def nginx_site(root: Path, state: Path) -> Iterator[Site]:
    """nginx serving `root` on a free loopback port until the block ends; its files go in `state`."""
    state.mkdir(parents=True, exist_ok=True)
    port, broken = free_port(), free_port()
    config = state / "nginx.conf"
    config.write_text(CONFIG.format(state=state, root=root, port=port, broken=broken), encoding="utf-8")
    if not Path(NGINX).exists():
        raise RuntimeError(f"{NGINX} is missing: run `make test-deps` (it apt-gets nginx-light)")
    with (state / "stderr.log").open("wb") as errors:
        proc = subprocess.Popen(
            [NGINX, "-p", str(state), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=errors
        )
    try:
        try:
            wait_for_port(port, proc, timeout=10)
            wait_for_port(broken, proc, timeout=10)
        except (RuntimeError, TimeoutError) as exc:
            said = (state / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"nginx did not start ({exc}): {said}") from exc
        yield Site(port=port, broken_port=broken, state=state, proc=proc)
    finally:
        if proc.poll() is None:
            proc.terminate()  # nginx's fast shutdown
            proc.wait(timeout=10)
