"""Fixtures for the database tests: a migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from db.engine import Database, sqlite_path
from db.migrate import upgrade
from generation.types import Endpoint, GenerationRequest, Mode
from tests.db.postgres import PostgresServer, find_pg_ctl, start_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session; skipped only where no server binary exists."""
    if find_pg_ctl() is None:
        pytest.skip("no PostgreSQL server binary (pg_ctl): install postgresql-15")
    pytest.importorskip("psycopg", reason="the `postgres` extra (psycopg 3) is not installed")
    yield from start_server()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A database migrated once on the server; tests get copies of it."""
    name = "riffbot_migrated"
    postgres_server.execute(f'CREATE DATABASE "{name}"')
    database = Database(postgres_server.url(name))
    upgrade(database.url)
    database.dispose()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every database test runs on SQLite (the default) and on a real PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the test's own (not migrated)."""
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()
    return f"sqlite:///{tmp_path / 'state' / 'riffbot.db'}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated once; tests get copies (migrating each time costs ~0.1 s)."""
    path = tmp_path_factory.mktemp("template") / "riffbot.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database.url)
    database.dispose()  # the last connection checkpoints the WAL into the main file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _fresh(db_url: str, template: Path, request: pytest.FixtureRequest) -> Database:
    if sqlite_path(db_url) is None:  # PostgreSQL: the same database, now a migrated copy
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = make_url(db_url).database
        server.execute(f'DROP DATABASE "{name}"')
        server.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{request.getfixturevalue("postgres_template")}"'
        )
        return Database(db_url)
    target = sqlite_path(db_url)
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return Database(db_url)


@pytest.fixture
def database(
    db_url: str, migrated_template: Path, request: pytest.FixtureRequest
) -> Iterator[Database]:
    """A migrated database of its own, through the sync engine."""
    database = _fresh(db_url, migrated_template, request)
    yield database
    database.dispose()


@pytest.fixture
async def adatabase(
    db_url: str, migrated_template: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """The same, for tests that use the async engine (needs greenlet)."""
    pytest.importorskip("greenlet", reason="async access needs SQLAlchemy[asyncio]")
    database = _fresh(db_url, migrated_template, request)
    yield database
    await database.aclose()


def riff(prompt: str = "lofi beat", seed: int = 7, **changes: object) -> GenerationRequest:
    request = GenerationRequest(mode=Mode.RIFF, start=Endpoint(prompt, seed))
    return GenerationRequest.from_dict({**request.to_dict(), **changes})
