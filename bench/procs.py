"""What the benches read about other processes: a free local port, CPU seconds from /proc."""

from __future__ import annotations

import os
import socket
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stat_cpu(path: str | Path) -> float:
    """User + system CPU seconds from a ``/proc/…/stat`` file (a process's or a thread's)."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    return stat_cpu(f"/proc/{pid}/stat")
