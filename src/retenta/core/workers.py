"""What every worker process the server spawns does first."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """A ``ProcessPoolExecutor`` initializer: SIGKILL when the parent goes (and exit now if
    it is gone already), so no worker outlives a killed server."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the call queue's end-of-file still ends it
        pass
    if os.getppid() != parent_pid:
        os._exit(0)
