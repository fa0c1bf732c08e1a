"""A parser process ends with the process that started it, even when that one is killed with SIGKILL (which
runs no clean-up): on Linux the kernel sends the parser SIGKILL when its parent dies (prctl
PR_SET_PDEATHSIG); everywhere, a thread of the parser checks every second that its parent is still there.

The death signal follows the parent *thread* that spawned the process: `ParsePool` spawns its processes
from the event loop's thread, which lives as long as the process does.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_EVERY = 1.0  # seconds between two looks at the parent


def tie_to_parent(parent: int) -> None:
    """Make this process end when process `parent` (the one that started it) ends; call it first thing."""
    _death_signal()
    if os.getppid() != parent:  # the parent died before the signal was asked for: nobody will send it
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="lore-parent-watch", daemon=True).start()


def _death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.warning(
                "prctl(PR_SET_PDEATHSIG) failed (errno %d): the parent watch remains", ctypes.get_errno()
            )
    except (OSError, AttributeError) as exc:  # no libc prctl: the watch thread still ends the process
        log.warning("no PR_SET_PDEATHSIG (%s): the parent watch remains", exc)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    os._exit(1)  # the parent is gone: nothing here is worth finishing
