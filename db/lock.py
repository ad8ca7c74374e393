"""One process per SQLite database: a lock held for the life of the process.

Two bots on one SQLite file each take the other's running jobs for crash leftovers, run them
again and overwrite each other's files. SQLite cannot arbitrate that, so the second process
refuses to start. Several processes on one database need PostgreSQL with leases (db/leases.py).
The lock is an OS file lock (``flock``) on ``<database>.lock``: the kernel drops it when the
process dies, however it dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from sqlalchemy.engine import URL

from db.engine import sqlite_path

try:
    import fcntl
except ImportError:  # Windows: no flock; the refusal is a POSIX feature
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class DatabaseInUse(RuntimeError):
    """Another live process holds this SQLite database."""


class ProcessLock:
    """Holds the lock until :meth:`release` or the end of the process."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def hold_sqlite_lock(url: str | URL) -> ProcessLock | None:
    """Lock the SQLite database at ``url`` for this process; ``None`` for other backends.

    Raises :class:`DatabaseInUse`, naming the other process, when it is taken.
    """
    database = sqlite_path(url)
    if database is None:
        return None
    path = database.with_name(database.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        log.warning("no file locks on this system: nothing stops a second process on %s", database)
        return ProcessLock(fd, path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (pid {int(os.pread(fd, 32, 0).decode().strip())})"
        os.close(fd)
        raise DatabaseInUse(
            f"another Riffbot process{holder} is using the database {database}; with SQLite "
            "only one process may use it at a time. Stop that one first (several processes "
            "need PostgreSQL)."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return ProcessLock(fd, path)
