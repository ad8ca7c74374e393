"""Alembic environment: the same URL and the same SQLite settings as the running bot.

The URL comes, first match wins, from code (``config.attributes["database_url"]``, set by
``db.migrate``), from ``sqlalchemy.url`` in the config, or from Riffbot's settings (the
``RIFFBOT_DATABASE_URL`` variable or ``.env``). A connection handed in through
``config.attributes["connection"]`` is used as is.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from db.engine import is_sqlite, make_sync_engine, sync_url
from db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    from_code = config.attributes.get("database_url")
    if from_code:
        return str(from_code)
    from_ini = config.get_main_option("sqlalchemy.url")
    if from_ini:
        return from_ini
    from riffbot.settings import Settings

    return Settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import the models (they change; migrations must not), so our
    # timestamp type is written out as the plain type it stores.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    sqlite = (
        is_sqlite(url) if url else connection is not None and connection.dialect.name == "sqlite"
    )
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        render_item=_render_item,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=str(sync_url(_database_url())))
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _run_on_sqlite(connection: Connection) -> None:
    """Run with foreign keys off, as SQLite requires for batch table rebuilds.

    With them on, the ``DROP TABLE`` of a rebuild acts as a ``DELETE`` that cascades into
    child tables and wipes them. The pragma only works outside a transaction, so it goes
    straight to the driver before SQLAlchemy begins one; violations are checked afterwards.
    """
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        _run_on(connection)
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.rollback()
        if violations:
            raise RuntimeError(f"migration left foreign key violations: {violations[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run_on(given)
        return
    engine = make_sync_engine(_database_url())
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                _run_on_sqlite(connection)
            else:
                _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
