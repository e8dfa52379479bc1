"""Advisory file locks that say which process holds them; released by the kernel when the holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from collector.core.errors import InferwatchError


def exclusive_lock(path: Path, *, wait: bool, busy_message: str) -> int:
    """Lock ``path`` (created if missing) and return its descriptor; raise ``busy_message`` if held and not
    ``wait``. Close the descriptor to release it; ``kill -9`` of the holder releases it too."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise InferwatchError(busy_message + (f" (process {holder} holds {path})" if holder else "")) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(fd: int) -> str:
    """The process id the holder wrote into the lock file, if any."""
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
