"""A real PostgreSQL server for the tests, started from its own binaries in a temporary folder.

pytest-postgresql's executor runs ``initdb`` and ``pg_ctl``; the server binaries are looked up
in ``RIFFBOT_PG_BIN``, PostgreSQL 15's Debian folder, then ``PATH`` (``.ci/run`` installs the
``postgresql-15`` package where it is missing). ``initdb`` refuses to run as root, so as root
the server runs as the ``postgres`` user through ``runuser``, in a folder that user owns.
Each test gets a database of its own, made by copying a template (migrated once, or empty).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
USER = "riffbot"


def find_pg_ctl() -> Path | None:
    candidates = [os.environ.get("RIFFBOT_PG_BIN", ""), *PG_BIN_DIRS]
    for folder in filter(None, candidates):
        pg_ctl = Path(folder) / "pg_ctl"
        if pg_ctl.exists():
            return pg_ctl
    found = shutil.which("pg_ctl")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.encode())

    def create_database(self, template: str = "template0") -> str:
        """A fresh database copied from ``template``; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)


def _wait_until_accepting(pg_isready: Path, port: int, log: Path) -> None:
    """pg_ctl says "running" before the server accepts connections ("starting up")."""
    deadline = time.monotonic() + 60
    command = [str(pg_isready), "-q", "-t", "5", "-h", "127.0.0.1", "-p", str(port)]
    while subprocess.run(command, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"PostgreSQL did not start; see {log}"
        time.sleep(0.1)  # polling a server that is starting, not synchronising a test


def start_server() -> Iterator[PostgresServer]:
    """Start a server (about 2 s), yield it, stop it and remove its folder."""
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    pg_ctl = find_pg_ctl()
    assert pg_ctl is not None
    base = Path(tempfile.mkdtemp(prefix="riffbot-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
        executable = base / "pg_ctl"
        executable.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
        executable.chmod(0o755)
    port = _free_port()
    executor = PostgreSQLExecutor(
        executable=str(executable),
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "server.log"),
        startparams="-w",
        dbname="postgres",
        user=USER,
        # A test server: durability off makes CREATE DATABASE and commits fast.
        postgres_options=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
    )
    executor.start()
    try:
        _wait_until_accepting(pg_ctl.with_name("pg_isready"), port, base / "server.log")
        yield PostgresServer("127.0.0.1", port)
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)
