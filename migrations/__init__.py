"""Alembic migrations for Riffbot's database; a package so that installs ship it."""
