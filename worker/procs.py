"""Helpers for the parser processes."""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to stop this process when its parent dies (even by SIGKILL).

    Runs as the initializer of each parser process, so a worker killed with SIGKILL
    leaves no orphaned parser behind. A no-op elsewhere than Linux.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
