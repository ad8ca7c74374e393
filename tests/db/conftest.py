"""Fixtures for the database tests: a migrated SQLite file per test, never a shared one."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from db.engine import Database, sqlite_path
from db.migrate import upgrade
from generation.types import Endpoint, GenerationRequest, Mode


@pytest.fixture
def db_url(tmp_path: Path) -> str:
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


def _fresh(db_url: str, template: Path) -> Database:
    target = sqlite_path(db_url)
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return Database(db_url)


@pytest.fixture
def database(db_url: str, migrated_template: Path) -> Iterator[Database]:
    """A migrated database of its own, through the sync engine."""
    database = _fresh(db_url, migrated_template)
    yield database
    database.dispose()


@pytest.fixture
async def adatabase(db_url: str, migrated_template: Path) -> AsyncIterator[Database]:
    """The same, for tests that use the async engine (needs greenlet)."""
    pytest.importorskip("greenlet", reason="async access needs SQLAlchemy[asyncio]")
    database = _fresh(db_url, migrated_template)
    yield database
    await database.aclose()


def riff(prompt: str = "lofi beat", seed: int = 7, **changes: object) -> GenerationRequest:
    request = GenerationRequest(mode=Mode.RIFF, start=Endpoint(prompt, seed))
    return GenerationRequest.from_dict({**request.to_dict(), **changes})
