"""Engines and sessions for one database URL, sync (CLI, migrations) and async (bot).

Both engines come from the SAME settings URL so the CLI and the bot can never disagree about
which file they write. SQLite gets the settings that make it safe for a bot with concurrent
writers and a process that may be killed at any moment:

- WAL journal: readers never block the writer, and a SIGKILL leaves a consistent database.
- ``foreign_keys=ON``: SQLite ignores foreign keys unless asked, per connection.
- ``busy_timeout``: a writer waits for the lock instead of failing with "database is locked".
- ``BEGIN IMMEDIATE`` for every transaction: the sqlite3 driver's lazy BEGIN lets a read
  transaction try to upgrade to a write after another connection committed, which fails at once
  (SQLITE_BUSY_SNAPSHOT) no matter how long the busy timeout is. Taking the write lock up front
  turns that race into an orderly wait. Transactions here are short, so the cost is small.

Any other URL (PostgreSQL) passes through untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
}
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
}


def sync_url(url: str | URL) -> URL:
    """The URL for a blocking driver: ``sqlite+aiosqlite`` becomes plain ``sqlite``."""
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def async_url(url: str | URL) -> URL:
    """The URL for an asyncio driver: ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db``."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def safe_url(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or ``None`` for memory databases and other backends."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _prepare_sqlite_file(url: URL) -> None:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    """Install the per-connection pragmas and the IMMEDIATE transactions (see module doc)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver; ``_on_begin`` below emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sync_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A blocking engine for ``url`` with the SQLite settings applied."""
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(target, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(target, **kwargs)


def _asyncio_extension() -> Any:
    # Imported late: SQLAlchemy's asyncio layer needs ``greenlet`` (the ``SQLAlchemy[asyncio]``
    # extra), which the CLI and migrations do not.
    try:
        import sqlalchemy.ext.asyncio as extension
    except ImportError as error:
        raise RuntimeError(
            "Async database access needs SQLAlchemy's asyncio extra: "
            "pip install 'SQLAlchemy[asyncio]' (it adds greenlet)."
        ) from error
    return extension


def make_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An asyncio engine for ``url`` with the SQLite settings applied."""
    create_async_engine = _asyncio_extension().create_async_engine
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        engine: AsyncEngine = create_async_engine(target, **kwargs)
        _configure_sqlite(engine.sync_engine)
        return engine
    plain: AsyncEngine = create_async_engine(target, **kwargs)
    return plain


def make_engines(url: str | URL) -> tuple[Engine, AsyncEngine]:
    """Both engines for one settings URL."""
    return make_sync_engine(url), make_async_engine(url)


class Database:
    """Both engines for one URL and their session factories; create one per process.

    Query functions in :mod:`db.queries` and :mod:`db.jobs` are written once, for a sync
    ``Session``. The CLI calls them inside ``with database.session() as s``; the bot awaits
    ``database.run(fn, ...)``, which runs the same function on the async engine through
    ``AsyncSession.run_sync`` and commits. Objects come back loaded and detached
    (``expire_on_commit=False``), safe to read after the session closed.
    """

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url)
        self.engine = make_sync_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._async_engine: AsyncEngine | None = None
        self._async_sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def async_engine(self) -> AsyncEngine:
        """Made on first use, so sync-only users (CLI, migrations) never need greenlet."""
        if self._async_engine is None:
            self._async_engine = make_async_engine(self.url)
        return self._async_engine

    @property
    def async_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._async_sessions is None:
            factory = _asyncio_extension().async_sessionmaker
            self._async_sessions = factory(self.async_engine, expire_on_commit=False)
        return self._async_sessions

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A sync session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def async_session(self) -> AsyncIterator[AsyncSession]:
        """An async session in one transaction: committed on success, rolled back on error."""
        async with self.async_sessions.begin() as session:
            yield session

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(session, *args, **kwargs)`` in its own committed transaction."""
        async with self.async_sessions.begin() as session:
            return await session.run_sync(fn, *args, **kwargs)

    def call(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Blocking twin of :meth:`run`, for the CLI and tests."""
        with self.sessions.begin() as session:
            return fn(session, *args, **kwargs)

    def dispose(self) -> None:
        self.engine.dispose()

    async def aclose(self) -> None:
        if self._async_engine is not None:
            await self._async_engine.dispose()
        self.engine.dispose()
